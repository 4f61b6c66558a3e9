package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/writ-dev/writ/internal/text"
)

// plainLogs is a slog.Handler that escapes (text.Escape) the message and
// every string and error value before the handler it wraps formats them:
// a request path, or an error quoting what a client sent, can then never
// break a log line or carry a terminal escape, whatever the handler (slog's
// JSON handler leaves C1 controls such as U+009B CSI as they are, and a
// text handler prints U+202E raw).
type plainLogs struct{ h slog.Handler }

func (p plainLogs) Enabled(ctx context.Context, l slog.Level) bool { return p.h.Enabled(ctx, l) }

func (p plainLogs) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, text.Escape(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(plainAttr(a))
		return true
	})
	return p.h.Handle(ctx, out)
}

func (p plainLogs) WithAttrs(attrs []slog.Attr) slog.Handler {
	plain := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		plain[i] = plainAttr(a)
	}
	return plainLogs{p.h.WithAttrs(plain)}
}

func (p plainLogs) WithGroup(name string) slog.Handler {
	return plainLogs{p.h.WithGroup(text.Escape(name))}
}

// plainAttr returns a with its key and its string or error values escaped,
// in groups too.
func plainAttr(a slog.Attr) slog.Attr {
	a.Key = text.Escape(a.Key)
	a.Value = a.Value.Resolve()
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(text.Escape(a.Value.String()))
	case slog.KindGroup:
		group := a.Value.Group()
		plain := make([]slog.Attr, len(group))
		for i, g := range group {
			plain[i] = plainAttr(g)
		}
		a.Value = slog.GroupValue(plain...)
	case slog.KindAny:
		// Any other value would reach the handler's own formatting
		// (encoding/json leaves C1 and bidi characters raw): a list of
		// strings keeps its shape, everything else is logged as its text.
		switch v := a.Value.Any().(type) {
		case []string:
			plain := make([]string, len(v))
			for i, s := range v {
				plain[i] = text.Escape(s)
			}
			a.Value = slog.AnyValue(plain)
		case error:
			a.Value = slog.StringValue(text.Escape(v.Error()))
		default:
			a.Value = slog.StringValue(text.Escape(fmt.Sprint(v)))
		}
	}
	return a
}
