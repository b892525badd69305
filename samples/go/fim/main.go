// Fill-in-the-middle completion as an editor plugin calls it: the text before
// and after the cursor go in, the code for the gap comes out on stdout.
//
// Run (after building, from the build directory; \n in the arguments are newlines):
//
//	bindings/go/samples/bin/fim ../share/models/mola-tiny-code 'def add(a, b):\n    ' '\n    return result\n'
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"mola.dev/mola"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: fim MODEL_DIR PREFIX SUFFIX")
		os.Exit(2)
	}
	unescape := strings.NewReplacer(`\n`, "\n", `\t`, "\t")
	middle, err := complete(os.Args[1], unescape.Replace(os.Args[2]), unescape.Replace(os.Args[3]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fim:", err)
		os.Exit(1)
	}
	fmt.Println(middle)
}

func complete(modelDir, prefix, suffix string) (string, error) {
	model, err := mola.Load(modelDir)
	if err != nil {
		return "", err
	}
	defer model.Close()
	tokenizer, err := model.Tokenizer()
	if err != nil {
		return "", err
	}
	prompt, err := tokenizer.BuildFIM(prefix, suffix, mola.FIMPrefixSuffixMiddle)
	if err != nil {
		return "", err
	}
	session, err := model.NewSession()
	if err != nil {
		return "", err
	}
	defer session.Close()
	// An editor gives up on a suggestion that takes too long.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	result, err := session.Generate(ctx, mola.Text(prompt), mola.WithMaxTokens(48),
		mola.WithStop("\n\n", "\ndef "), mola.WithTemperature(0))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(result.Text, "\n"), nil
}
