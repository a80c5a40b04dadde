package p2p

import (
	"context"
	"log/slog"
)

// tagBumpWarning is what pubsub warns each time the connection manager's
// queue of delivery-tag bumps is full. Under load (a few hundred messages a
// second) that is most messages, and a missed bump only makes a useful peer's
// protection from trimming grow a little slower.
const tagBumpWarning = "error bumping delivery tag"

// demoteHandler logs records with one message at debug level instead of the
// level they were written at, so one library's chatter does not bury the
// warnings that matter.
type demoteHandler struct {
	slog.Handler
	msg string
}

func (h demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h demoteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteHandler{h.Handler.WithAttrs(attrs), h.msg}
}

func (h demoteHandler) WithGroup(name string) slog.Handler {
	return demoteHandler{h.Handler.WithGroup(name), h.msg}
}
