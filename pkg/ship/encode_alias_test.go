package ship

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// escapeCorpus is text that takes every path of the word-at-a-time encoder,
// with its special bytes at each place of an 8-byte word and strings of
// every length around a word.
func escapeCorpus() [][]byte {
	var out [][]byte
	specials := []string{`"`, `\`, "\n", "\x01", "\x7f", "\xff", "\xc3\xa9", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\xc3"}
	for n := 0; n <= 25; n++ {
		plain := strings.Repeat("a", n)
		out = append(out, []byte(plain), []byte(strings.Repeat(`"`, n)), []byte(strings.Repeat(`\`, n)))
		for _, sp := range specials {
			for at := 0; at <= n; at++ {
				out = append(out, []byte(plain[:at]+sp+plain[at:]))
			}
		}
	}
	return out
}

// TestAppendStringAliasAndRoom: the encoder writes into dst's capacity past
// its length and grows it during the string, so it is attacked where that
// could go wrong, each against the byte-at-a-time reference:
//   - the capacity holds garbage (nothing may be read back from it);
//   - s is part of dst itself, before dst's length (writing past the length
//     must not touch it, growing must not lose it);
//   - dst's capacity is exactly the room the encoder asks for, and one less.
func TestAppendStringAliasAndRoom(t *testing.T) {
	for _, s := range escapeCorpus() {
		want := appendStringRef([]byte("pre"), s)

		garbage := make([]byte, 3, 3+len(s)+strSlack+64)
		copy(garbage, "pre")
		for i := range garbage[3:cap(garbage)] {
			garbage[:cap(garbage)][3+i] = 0xff
		}
		if got := appendString(garbage, s); !bytes.Equal(got, want) {
			t.Fatalf("%q into a buffer of garbage: got %s, want %s", s, got, want)
		}

		// s lives in dst[3:], dst's length ends after it: the output goes
		// after it, and must be what encoding a copy gives.
		buf := make([]byte, 0, 3+2*len(s)+3*len(s)+64)
		buf = append(append(buf, "pre"...), s...)
		alias := buf[3:]
		got := appendString(buf, alias)
		wantAlias := appendStringRef(slices.Clone(buf), slices.Clone(s))
		if !bytes.Equal(got, wantAlias) {
			t.Fatalf("%q encoded from dst itself: got %s, want %s", s, got, wantAlias)
		}
		if !bytes.Equal(alias, s) {
			t.Fatalf("%q: the input inside dst changed to %q", s, alias)
		}

		for _, room := range []int{len(s) + strSlack, len(s) + strSlack - 1, len(s) + 1, 0} {
			if room < 0 {
				continue
			}
			dst := make([]byte, 3, 3+room)
			copy(dst, "pre")
			if got := appendString(dst, s); !bytes.Equal(got, want) {
				t.Fatalf("%q with %d bytes of room: got %s, want %s", s, room, got, want)
			}
		}
	}
}

// TestAppendStringKeepsPrefix: appending to a slice of a larger buffer
// leaves the buffer's bytes before dst's length alone, and so every record
// already encoded in a batch.
func TestAppendStringKeepsPrefix(t *testing.T) {
	batch := make([]byte, 0, 1<<16)
	var wantBatch []byte
	for _, s := range escapeCorpus() {
		batch = appendString(batch, s)
		batch = append(batch, '\n')
		wantBatch = appendStringRef(wantBatch, s)
		wantBatch = append(wantBatch, '\n')
	}
	if !bytes.Equal(batch, wantBatch) {
		t.Fatalf("batch of %d strings differs from the reference", len(escapeCorpus()))
	}
}
