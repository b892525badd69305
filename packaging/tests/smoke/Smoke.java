// Smoke.java: the installed-package Java smoke program, run as a single-file source
// program with `java -cp /usr/share/java/mola.jar Smoke.java`; generates and prints the
// text hex-encoded, to compare with the C++ consumer's line.
//
//   java -cp /usr/share/java/mola.jar Smoke.java MODEL_DIR PROMPT SEED MAX_TOKENS
import dev.mola.GenerateOptions;
import dev.mola.GenerationResult;
import dev.mola.Model;
import dev.mola.ModelOptions;
import dev.mola.Session;
import java.nio.charset.StandardCharsets;

public class Smoke {
    public static void main(String[] args) {
        GenerateOptions options = new GenerateOptions()
            .seed(Long.parseLong(args[2])).maxTokens(Integer.parseInt(args[3])).ignoreEos(true);
        try (Model model = new Model(args[0], new ModelOptions().threads(1));
             Session session = model.newSession()) {
            GenerationResult result = session.complete(args[1], options);
            if (result.text().isEmpty()) {
                System.err.println("Smoke.java: nothing generated");
                System.exit(1);
            }
            StringBuilder hex = new StringBuilder();
            for (byte b : result.text().getBytes(StandardCharsets.UTF_8)) hex.append(String.format("%02x", b));
            System.out.println(hex);
        }
    }
}
