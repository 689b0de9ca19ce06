//go:build !linux

package main

import (
	"context"
	"errors"
	"log/slog"
)

func dropTextPages() (int64, error) { return 0, errors.ErrUnsupported }

func textPages(context.Context, *slog.Logger, func() (int64, error)) {}
