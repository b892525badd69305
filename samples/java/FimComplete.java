// FimComplete.java: fill-in-the-middle from Java, as an IDE plugin calls it: the code
// before and after the cursor in (escapes like \n are expanded), the completion for
// the cursor out, stopping at a blank line or after max tokens.
//
//   java -Djava.library.path=build/bindings/java -cp build/bindings/java/mola.jar \
//       samples/java/FimComplete.java share/models/mola-tiny-code 'def area(r):\n    return ' '\n\nprint(area(2))\n'
import dev.mola.GenerateOptions;
import dev.mola.GenerationResult;
import dev.mola.Model;
import dev.mola.Session;

public class FimComplete {
    public static void main(String[] args) {
        String modelDir = args.length > 0 ? args[0] : "share/models/mola-tiny-code";
        String prefix = unescape(args.length > 1 ? args[1] : "def area(r):\\n    return ");
        String suffix = unescape(args.length > 2 ? args[2] : "\\n\\nprint(area(2))\\n");
        try (Model model = new Model(modelDir); Session session = model.newSession()) {
            String prompt = model.tokenizer().buildFim(prefix, suffix);
            GenerationResult middle = session.complete(prompt,
                    new GenerateOptions().maxTokens(48).stop("\n\n").temperature(0.2).seed(1));
            System.out.print(prefix + middle.text() + suffix);
            System.out.printf("%n[middle: %d tokens, %s, first token after %.0f ms]%n", middle.nGeneratedTokens(),
                    middle.finishReason().name().toLowerCase(), middle.timeToFirstTokenMs());
        }
    }

    static String unescape(String s) {
        return s.replace("\\n", "\n").replace("\\t", "\t");
    }
}
