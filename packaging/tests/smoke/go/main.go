// main.go: the installed-package Go smoke program, built with `go build` against
// golang-mola-dev's source and the installed libmola; generates and prints the text
// hex-encoded, to compare with the C++ consumer's line.
//
//	smoke MODEL_DIR PROMPT SEED MAX_TOKENS
package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"

	"mola.dev/mola"
)

func run(modelDir, prompt string, seed int64, maxTokens int) (string, error) {
	model, err := mola.Load(modelDir, mola.WithThreads(1))
	if err != nil {
		return "", err
	}
	defer model.Close()
	session, err := model.NewSession()
	if err != nil {
		return "", err
	}
	defer session.Close()
	result, err := session.Generate(context.Background(), mola.Text(prompt),
		mola.WithSeed(seed), mola.WithMaxTokens(maxTokens), mola.WithIgnoreEOS(true))
	if err != nil {
		return "", err
	}
	if result.Text == "" {
		return "", fmt.Errorf("nothing generated")
	}
	return hex.EncodeToString([]byte(result.Text)), nil
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: smoke MODEL_DIR PROMPT SEED MAX_TOKENS")
		os.Exit(2)
	}
	seed, err1 := strconv.ParseInt(os.Args[3], 10, 64)
	maxTokens, err2 := strconv.Atoi(os.Args[4])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "smoke: SEED and MAX_TOKENS must be integers")
		os.Exit(2)
	}
	line, err := run(os.Args[1], os.Args[2], seed, maxTokens)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(1)
	}
	fmt.Println(line)
}
