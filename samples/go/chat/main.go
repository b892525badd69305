// Streaming chat with mola: reads your lines from stdin (or takes one message
// from the command line), formats the conversation with the model's chat
// template and streams each answer as it is generated.
//
// Run (after building, from the build directory):
//
//	bindings/go/samples/bin/chat ../share/models/mola-tiny-code [message]
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"mola.dev/mola"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chat MODEL_DIR [message]")
		os.Exit(2)
	}
	if err := run(os.Args[1], strings.Join(os.Args[2:], " ")); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

func run(modelDir, message string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt) // Ctrl-C stops an answer
	defer stop()
	model, err := mola.Load(modelDir)
	if err != nil {
		return err
	}
	defer model.Close()
	tokenizer, err := model.Tokenizer()
	if err != nil {
		return err
	}

	var history []mola.ChatMessage
	lines := bufio.NewScanner(os.Stdin)
	for {
		if message == "" {
			fmt.Print("you> ")
			if !lines.Scan() {
				fmt.Println()
				return lines.Err()
			}
			message = lines.Text()
		}
		history = append(history, mola.ChatMessage{Role: "user", Content: message})
		message = ""
		// Each turn re-renders the whole conversation; a fresh session keeps it simple.
		prompt, err := tokenizer.ApplyChat(history, true)
		if err != nil {
			return err
		}
		session, err := model.NewSession()
		if err != nil {
			return err
		}
		fmt.Print("assistant> ")
		pieces, wait := session.Stream(ctx, mola.Text(prompt), mola.WithMaxTokens(128))
		for piece := range pieces {
			fmt.Print(piece)
		}
		fmt.Println()
		answer, err := wait()
		session.Close()
		if err != nil {
			return err
		}
		history = append(history, mola.ChatMessage{Role: "assistant", Content: answer.Text})
		if len(os.Args) > 2 {
			return nil // one message from the command line: one answer
		}
	}
}
