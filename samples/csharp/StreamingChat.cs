// StreamingChat.cs: a streaming chat with a mola model, answer printed piece by piece.
// Run from the repository root after building (cmake --build build --target mola_csharp_samples):
//   mono build/bindings/csharp/out/StreamingChat.exe share/models/mola-tiny-code "Write a hello world in C."
// Without the message it reads one user line after another from stdin.
using System;
using System.Collections.Generic;
using Mola;

static class StreamingChat
{
    static int Main(string[] args)
    {
        string modelDir = args.Length > 0 ? args[0] : "share/models/mola-tiny-code";
        try
        {
            using (var model = new Model(modelDir))
            using (Session session = model.CreateSession())
            {
                var history = new List<ChatMessage>();
                var options = new GenerateOptions { MaxTokens = 64, Temperature = 0.7, Seed = 42 };
                foreach (string line in args.Length > 1 ? new[] { args[1] } : ReadLines())
                {
                    history.Add(new ChatMessage("user", line));
                    // The whole conversation is re-sent: the model's prefix cache reuses what it has seen.
                    session.Rewind(0);
                    string prompt = model.Tokenizer.ApplyChat(history);
                    using (Generation answer = session.Generate(prompt, options))
                    {
                        foreach (string piece in answer) Console.Write(piece);
                        Console.WriteLine();
                        history.Add(new ChatMessage("assistant", answer.Result.Text));
                    }
                }
            }
            return 0;
        }
        catch (MolaException e)
        {
            Console.Error.WriteLine("mola: " + e.Message);
            return 1;
        }
    }

    static IEnumerable<string> ReadLines()
    {
        string line;
        while ((line = Console.ReadLine()) != null)
            if (line.Trim().Length > 0) yield return line;
    }
}
