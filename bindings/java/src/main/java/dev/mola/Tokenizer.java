// Tokenizer.java: text to token ids and back, chat and fill-in-the-middle prompts.
// From a file or directory, or Model.tokenizer() (closed with its model).
package dev.mola;

import java.nio.file.Path;
import java.util.List;

import dev.mola.internal.NativeLoader;

public final class Tokenizer extends NativeHandle<dev.mola.internal.Tokenizer> {
    /** Loads a tokenizer file (or the tokenizer of a checkpoint directory). */
    public Tokenizer(Path path) {
        this(path.toString());
    }

    public Tokenizer(String path) {
        super("Tokenizer");
        NativeLoader.load();
        try {
            adopt(new dev.mola.internal.Tokenizer(path));
        } catch (RuntimeException e) {
            throw MolaException.translate(e);
        }
    }

    Tokenizer(dev.mola.internal.Tokenizer native_) {
        super("Tokenizer");
        adopt(native_);
    }

    /** The ids of text, with BOS and special tokens spelled in the text. */
    public int[] encode(String text) {
        return encode(text, true, true);
    }

    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        return use(t -> t.encode(text, addSpecial, parseSpecial));
    }

    public String decode(int[] tokens) {
        return decode(tokens, false);
    }

    public String decode(int[] tokens, boolean skipSpecial) {
        return use(t -> t.decode(tokens, skipSpecial));
    }

    /** The prompt of a conversation, ending with the assistant's turn. */
    public String applyChat(List<ChatMessage> messages) {
        return applyChat(messages, true);
    }

    public String applyChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return use(t -> {
            dev.mola.internal.ChatTurnVector turns = new dev.mola.internal.ChatTurnVector();
            try {
                for (ChatMessage m : messages) {
                    dev.mola.internal.ChatTurn turn = new dev.mola.internal.ChatTurn();
                    try {
                        turn.setRole(m.role());
                        turn.setContent(m.content());
                        turns.add(turn);  // copied into the vector
                    } finally {
                        turn.delete();
                    }
                }
                return t.apply_chat(turns, addGenerationPrompt);
            } finally {
                turns.delete();
            }
        });
    }

    /** The name of the chat template in use. */
    public String chatFormat() {
        return use(dev.mola.internal.Tokenizer::chat_format);
    }

    /** A fill-in-the-middle prompt, prefix-suffix-middle order. */
    public String buildFim(String prefix, String suffix) {
        return buildFim(prefix, suffix, false);
    }

    /** spm: suffix-prefix-middle order. Throws UnsupportedException without FIM tokens. */
    public String buildFim(String prefix, String suffix, boolean spm) {
        return use(t -> t.build_fim(prefix, suffix, spm));
    }

    /** The text of one token (bytes that are not whole UTF-8 characters become U+FFFD). */
    public String tokenToPiece(int token) {
        return use(t -> t.token_to_piece(token));
    }

    /** The id of the token spelled exactly text, or -1. */
    public int tokenId(String text) {
        return use(t -> t.token_id(text));
    }

    @Override
    void destroy(dev.mola.internal.Tokenizer t) {
        t.close();
        t.delete();
    }
}
