// A streaming chat with mola from Go: each line you type is a user turn; the
// answer streams back piece by piece (Ctrl-C stops an answer, Ctrl-D quits). The
// conversation's common prefix is not recomputed: each turn's new session takes
// it from the model's prefix cache.
//
//	build/bindings/go/samples/bin/chat [-max-tokens N] [MODEL_DIR]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"mola.dev/mola"
)

func main() {
	maxTokens := flag.Int("max-tokens", 128, "longest answer in tokens")
	seed := flag.Int64("seed", 0, "sampling seed")
	flag.Parse()
	modelDir := "share/models/mola-tiny-code"
	if flag.NArg() > 0 {
		modelDir = flag.Arg(0)
	}
	if err := chat(modelDir, *maxTokens, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

func chat(modelDir string, maxTokens int, seed int64) error {
	model, err := mola.Load(modelDir)
	if err != nil {
		return err
	}
	defer model.Close()
	tokenizer, err := model.Tokenizer()
	if err != nil {
		return err
	}
	var conversation []mola.ChatMessage
	fmt.Fprintln(os.Stderr, "mola chat: type a message, Ctrl-D to quit")
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" {
			continue
		}
		conversation = append(conversation, mola.ChatMessage{Role: "user", Content: line})
		prompt, err := tokenizer.ApplyChat(conversation, true)
		if err != nil {
			return err
		}
		answer, err := streamAnswer(model, prompt, maxTokens, seed)
		if err != nil {
			return err
		}
		conversation = append(conversation, mola.ChatMessage{Role: "assistant", Content: answer})
	}
	return lines.Err()
}

func streamAnswer(model *mola.Model, prompt string, maxTokens int, seed int64) (string, error) {
	session, err := model.NewSession(mola.WithContextSize(2048))
	if err != nil {
		return "", err
	}
	defer session.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	pieces, wait := session.Stream(ctx, mola.Text(prompt), mola.WithMaxTokens(maxTokens), mola.WithSeed(seed))
	for piece := range pieces {
		fmt.Print(piece)
	}
	fmt.Println()
	result, err := wait()
	if ctx.Err() != nil {
		err = nil // Ctrl-C ends this answer, not the chat
	}
	return result.Text, err
}
