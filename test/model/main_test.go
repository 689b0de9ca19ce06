package model

import (
	"testing"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

func TestMain(m *testing.M) { e2eharness.Main(m) }
