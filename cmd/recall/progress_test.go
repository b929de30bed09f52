package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"recall/internal/testenv"
)

func TestProgressMode(t *testing.T) {
	tty, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0) // a character device, as a terminal is
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	file, err := os.Create(t.TempDir() + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tests := []struct {
		flag string
		w    io.Writer
		want string
		bad  bool
	}{
		{"auto", tty, progressBar, false},
		{"auto", file, progressPlain, false},
		{"auto", &bytes.Buffer{}, progressPlain, false},
		{"bar", &bytes.Buffer{}, progressBar, false},
		{"plain", tty, progressPlain, false},
		{"none", tty, progressNone, false},
		{"fancy", tty, "", true},
	}
	for _, tt := range tests {
		got, err := progressMode(tt.flag, tt.w)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("progressMode(%q, %T) = %q, %v; want %q", tt.flag, tt.w, got, err, tt.want)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var buf testenv.Buffer
	p := startProgress(&buf, progressBar, "create", 10, func() string { return "errors 1" })
	for range 4 {
		p.Add(1)
	}
	time.Sleep(250 * time.Millisecond) // at least one redraw at 40%
	p.Add(6)
	p.Finish()
	p.Finish() // harmless twice
	out := buf.String()
	if !strings.Contains(out, "\r\x1b[Kcreate     [############------------------] 4/10  40%") {
		t.Errorf("no 40%% bar redrawn in place:\n%q", out)
	}
	last := out[strings.LastIndex(out, "\r"):]
	if !strings.Contains(last, "[##############################] 10/10 100%") || !strings.Contains(last, "errors 1") || !strings.HasSuffix(last, "\n") {
		t.Errorf("final bar = %q", last)
	}
}

func TestProgressPlainAndNone(t *testing.T) {
	var buf testenv.Buffer
	p := startProgress(&buf, progressPlain, "reprocess", 0, nil)
	p.Add(7)
	p.Finish()
	out := buf.String()
	if strings.Contains(out, "\r") || !strings.HasPrefix(out, "reprocess  7  ") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("plain progress = %q", out)
	}

	var quiet testenv.Buffer
	p = startProgress(&quiet, progressNone, "x", 3, nil)
	p.Add(3)
	p.Finish()
	if quiet.String() != "" {
		t.Errorf("none wrote %q", quiet.String())
	}
}
