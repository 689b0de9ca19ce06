package main

import (
	"io"
	"log/slog"
)

// newLogger builds the agent's structured logger: JSON by default, so that
// the node's own log pipeline can parse it.
func newLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	return newLevelLogger(c, w, new(slog.LevelVar))
}

// newLevelLogger is newLogger with its level held in lv, so that a reload
// can change the level of every component's logger in place.
func newLevelLogger(c LogConfig, w io.Writer, lv *slog.LevelVar) (*slog.Logger, error) {
	level, err := parseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}
