// Smoke.cs: the installed-package C# smoke program, compiled with
// `mcs $(pkg-config --libs mola-sharp) Smoke.cs` and run with mono; generates and
// prints the text hex-encoded, to compare with the C++ consumer's line.
//
//   mono Smoke.exe MODEL_DIR PROMPT SEED MAX_TOKENS
using System;
using System.Text;
using Mola;

public static class Smoke
{
    public static int Main(string[] args)
    {
        var options = new GenerateOptions { Seed = long.Parse(args[2]), MaxTokens = int.Parse(args[3]), IgnoreEos = true };
        GenerationResult result;
        using (var model = new Model(args[0], new ModelOptions { Threads = 1 }))
        using (Session session = model.CreateSession())
            result = session.Complete(args[1], options);
        if (string.IsNullOrEmpty(result.Text))
        {
            Console.Error.WriteLine("Smoke.cs: nothing generated");
            return 1;
        }
        var hex = new StringBuilder();
        foreach (byte b in Encoding.UTF8.GetBytes(result.Text)) hex.Append(b.ToString("x2"));
        Console.WriteLine(hex);
        return 0;
    }
}
