// FimComplete.cs: fill-in-the-middle completion as an editor plugin would request
// it: the code before and after the cursor in, the code for the gap out.
// Run from the repository root after building (cmake --build build --target mola_csharp_samples):
//   mono build/bindings/csharp/out/FimComplete.exe share/models/mola-tiny-code "def area(r):\n    " "\n    return a\n"
// (prefix and suffix are optional; "\n" in them stands for a newline).
using System;
using Mola;

static class FimComplete
{
    static int Main(string[] args)
    {
        string modelDir = args.Length > 0 ? args[0] : "share/models/mola-tiny-code";
        string prefix = args.Length > 1 ? Unescape(args[1]) : "def area(radius):\n    \"\"\"The area of a circle.\"\"\"\n    ";
        string suffix = args.Length > 2 ? Unescape(args[2]) : "\n    return result\n";
        try
        {
            using (var model = new Model(modelDir))
            using (Session session = model.CreateSession())
            {
                string prompt = model.Tokenizer.BuildFim(prefix, suffix);
                // An editor wants a short answer quickly: few tokens, stop at a blank line.
                var options = new GenerateOptions { MaxTokens = 48, Temperature = 0.2, Seed = 7, Stop = { "\n\n" } };
                GenerationResult middle = session.Complete(prompt, options);
                Console.WriteLine(middle.Text);
                Console.Error.WriteLine("[{0} tokens, finished by {1}]", middle.GeneratedTokenCount, middle.FinishReason);
            }
            return 0;
        }
        catch (MolaException e)
        {
            Console.Error.WriteLine("mola: " + e.Message);
            return 1;
        }
    }

    static string Unescape(string s)
    {
        return s.Replace("\\n", "\n");
    }
}
