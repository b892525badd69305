// Fill-in-the-middle from Go, as an IDE plugin calls it: the code before and
// after the cursor in, the completion for the cursor out (stopping at a blank
// line; \n in the flags are newlines).
//
//	build/bindings/go/samples/bin/fim -prefix 'def area(r):\n    return ' -suffix '\n\nprint(area(2))\n' [MODEL_DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"mola.dev/mola"
)

func main() {
	prefix := flag.String("prefix", `def area(r):\n    return `, "the code before the cursor")
	suffix := flag.String("suffix", `\n\nprint(area(2))\n`, "the code after the cursor")
	maxTokens := flag.Int("max-tokens", 48, "longest completion in tokens")
	flag.Parse()
	modelDir := "share/models/mola-tiny-code"
	if flag.NArg() > 0 {
		modelDir = flag.Arg(0)
	}
	unescape := strings.NewReplacer(`\n`, "\n", `\t`, "\t")
	before, after := unescape.Replace(*prefix), unescape.Replace(*suffix)
	result, err := complete(modelDir, before, after, *maxTokens)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fim:", err)
		os.Exit(1)
	}
	fmt.Print(before + result.Text + after)
	fmt.Printf("-- %d tokens, %s, first token after %.0f ms\n",
		result.NGeneratedTokens, result.FinishReason, result.TimeToFirstTokenMs)
}

func complete(modelDir, prefix, suffix string, maxTokens int) (mola.Result, error) {
	model, err := mola.Load(modelDir)
	if err != nil {
		return mola.Result{}, err
	}
	defer model.Close()
	tokenizer, err := model.Tokenizer()
	if err != nil {
		return mola.Result{}, err
	}
	prompt, err := tokenizer.BuildFIM(prefix, suffix, mola.FIMPrefixSuffixMiddle)
	if err != nil {
		return mola.Result{}, err
	}
	session, err := model.NewSession()
	if err != nil {
		return mola.Result{}, err
	}
	defer session.Close()
	// An editor drops a suggestion that comes too late.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return session.Generate(ctx, mola.Text(prompt), mola.WithMaxTokens(maxTokens), mola.WithStop("\n\n"),
		mola.WithTemperature(0.2), mola.WithSeed(1))
}
