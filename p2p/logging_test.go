package p2p

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestDemoteHandler(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var out bytes.Buffer
		log := slog.New(demoteHandler{slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}), tagBumpWarning}).With("component", "pubsub")
		log.Warn(tagBumpWarning, "err", "queue full")
		log.Warn("something else")
		got := out.String()
		if !strings.Contains(got, "level=WARN msg=\"something else\" component=pubsub") {
			t.Errorf("at %v, another warning lost: %q", level, got)
		}
		shown := strings.Contains(got, tagBumpWarning)
		if shown != (level == slog.LevelDebug) || strings.Contains(got, "level=WARN msg=\""+tagBumpWarning) {
			t.Errorf("at %v, the demoted warning logged as %q", level, got)
		}
	}
}
