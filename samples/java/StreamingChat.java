// StreamingChat.java: a streaming chat with mola from Java. Each line on stdin (or the
// message given after the model directory) is a user turn; the answer streams back
// piece by piece. Each turn's new session takes the conversation's common prefix
// from the model's prefix cache instead of recomputing it.
//
//   java -Djava.library.path=build/bindings/java -cp build/bindings/java/mola.jar \
//       samples/java/StreamingChat.java share/models/mola-tiny-code ["a message"]
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import dev.mola.ChatMessage;
import dev.mola.GenerateOptions;
import dev.mola.Generation;
import dev.mola.GenerationResult;
import dev.mola.Model;
import dev.mola.Session;
import dev.mola.SessionOptions;

public class StreamingChat {
    public static void main(String[] args) throws Exception {
        String modelDir = args.length > 0 ? args[0] : "share/models/mola-tiny-code";
        List<String> messages = new ArrayList<>();
        if (args.length > 1) {
            messages.add(args[1]);
        } else {
            System.err.println("mola chat: type a message, Ctrl-D to quit");
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line; (line = in.readLine()) != null; ) if (!line.isBlank()) messages.add(line.strip());
        }
        List<ChatMessage> conversation = new ArrayList<>();
        try (Model model = new Model(modelDir)) {
            for (String message : messages) {
                conversation.add(ChatMessage.user(message));
                String prompt = model.tokenizer().applyChat(conversation);
                GenerationResult result;
                try (Session session = model.newSession(new SessionOptions().contextSize(2048));
                     Generation answer = session.generate(prompt, new GenerateOptions().maxTokens(64))) {
                    for (String piece : answer) {
                        System.out.print(piece);
                        System.out.flush();
                    }
                    result = answer.result();
                }
                System.out.printf("%n[finished: %s, %d tokens]%n", result.finishReason().name().toLowerCase(),
                        result.nGeneratedTokens());
                conversation.add(ChatMessage.assistant(result.text()));
            }
        }
    }
}
