package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/term"
)

// terminal is the user's terminal on standard input. Prompts go to standard
// error, so that standard output carries only the result.
type terminal interface {
	// readSecret reads a line without echoing it.
	readSecret(prompt string) ([]byte, error)
	// readLine reads a line with echo.
	readLine(prompt string) (string, error)
	// say shows text that belongs to the dialogue, not to the result.
	say(text string)
}

// openTerminal returns the terminal on stdin, or nil when stdin is not one.
func openTerminal(stdin io.Reader, prompts io.Writer) terminal {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &tty{in: f, lines: bufio.NewReader(f), out: prompts}
}

type tty struct {
	in    *os.File
	lines *bufio.Reader
	out   io.Writer
}

func (t *tty) say(text string) { fmt.Fprint(t.out, text) }

func (t *tty) readLine(prompt string) (string, error) {
	fmt.Fprint(t.out, prompt)
	line, err := t.lines.ReadString('\n')
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		return "", fmt.Errorf("reading from the terminal: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (t *tty) readSecret(prompt string) ([]byte, error) {
	fd := int(t.in.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	// Ctrl-C would end the process with echo still off and leave the user's
	// shell not showing what they type; put the terminal back first.
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	done := make(chan struct{})
	defer func() {
		signal.Stop(interrupt)
		close(done)
	}()
	go func() {
		select {
		case <-interrupt:
			term.Restore(fd, state)
			fmt.Fprintln(t.out)
			os.Exit(130) // as a shell reports death by SIGINT
		case <-done:
		}
	}()
	fmt.Fprint(t.out, prompt)
	secret, err := term.ReadPassword(fd)
	fmt.Fprintln(t.out)
	if err != nil {
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	return secret, nil
}

// errNoPassphrase names every way to give a passphrase when none was given.
var errNoPassphrase = fmt.Errorf("no wallet passphrase: standard input is not a terminal to ask on; give --passphrase-file FILE or set %s", passphraseEnv)

// passphrase returns the passphrase that unlocks an existing wallet file.
func (a *app) passphrase() ([]byte, error) {
	if p, ok, err := a.givenPassphrase(); ok || err != nil {
		return p, err
	}
	if a.tty == nil {
		return nil, errNoPassphrase
	}
	return a.tty.readSecret("Wallet passphrase: ")
}

// newPassphrase returns the passphrase to encrypt a new wallet file with,
// asking twice on a terminal since a mistyped one would lock the user out.
func (a *app) newPassphrase() ([]byte, error) {
	p, ok, err := a.givenPassphrase()
	if err != nil {
		return nil, err
	}
	if !ok {
		if a.tty == nil {
			return nil, errNoPassphrase
		}
		if p, err = a.tty.readSecret("New wallet passphrase: "); err != nil {
			return nil, err
		}
		again, err := a.tty.readSecret("Repeat the passphrase: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("the two passphrases differ; nothing was written")
		}
	}
	if len(p) == 0 {
		return nil, errors.New("the wallet passphrase is empty: anyone with a copy of the file could spend from it")
	}
	return p, nil
}

// givenPassphrase returns the passphrase from --passphrase-file or the
// environment, and whether one was given there. A flag given explicitly wins
// over the environment, as on the node.
func (a *app) givenPassphrase() ([]byte, bool, error) {
	if path := a.opts.passphraseFile; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, false, fmt.Errorf("reading the passphrase file: %w", err)
		}
		// Editors and "echo secret > file" end the file with a newline that
		// is not part of the passphrase; only that one is dropped, so a
		// passphrase may still end in white space.
		data = bytes.TrimSuffix(data, []byte("\n"))
		data = bytes.TrimSuffix(data, []byte("\r"))
		return data, true, nil
	}
	if p := a.getenv(passphraseEnv); p != "" {
		return []byte(p), true, nil
	}
	return nil, false, nil
}

// readMnemonic returns the words of a wallet to restore: from the file given,
// else asked for without echo on a terminal, else one line of standard input.
func (a *app) readMnemonic(path string) (string, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading the mnemonic file: %w", err)
		}
		return string(data), nil
	}
	if a.tty != nil {
		// Without echo: the words are the wallet, and a terminal's scrollback
		// outlives the command. The checksum catches a mistyped word.
		words, err := a.tty.readSecret("Mnemonic (the words, separated by spaces): ")
		return string(words), err
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the mnemonic from standard input: %w", err)
	}
	if strings.TrimSpace(line) == "" {
		return "", errors.New("no mnemonic on standard input; give it there on one line, or use --mnemonic-file FILE")
	}
	return line, nil
}
