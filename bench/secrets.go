package main

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// Secret lines carry one secret each, of the kind of one of the agent's
// built-in redaction rules (pkg/process: bearer, api_key, aws_key, jwt,
// card, email), half of them in JSON lines. Every secret but a card number
// holds the marker secretMarker; card numbers are the card networks' test
// numbers (Luhn-valid), from testCards. A scan for these strings finds
// every planted secret, whatever the rules' patterns are.

// secretMarker is in every planted secret but card numbers.
const secretMarker = "S3CR3T"

// testCards are the card numbers planted, as written.
var testCards = []string{"4111 1111 1111 1111", "5555-5555-5555-4444", "4012888888881881", "378282246310005"}

// secretKinds are the built-in redaction rules, in the order lines cycle
// through them.
var secretKinds = []string{"bearer", "api_key", "aws_key", "jwt", "card", "email"}

// The random parts of secrets are drawn from alphabets without 'K' and
// 'e', so that they never hold "AKIA" or "eyJ" by chance: the corpus scan
// counts one "AKIA" per AWS key and two "eyJ" per JWT.
const (
	randAlnum = "ABCDEFGHIJLMNOPQRSTUVWXYZabcdfghijklmnopqrstuvwxyz0123456789"
	randB64   = randAlnum + "-_"
	randUpper = "ABCDEFGHIJLMNOPQRSTUVWXYZ234567"
)

func (g *lineGen) appendRandom(b []byte, alphabet string, n int) []byte {
	for range n {
		b = append(b, alphabet[g.rng.IntN(len(alphabet))])
	}
	return b
}

// appendSecretValue appends a secret of kind, in the form its rule finds.
func (g *lineGen) appendSecretValue(b []byte, kind string) []byte {
	switch kind {
	case "bearer":
		b = append(b, "Authorization: Bearer "+secretMarker...)
		return g.appendRandom(b, randB64, 26)
	case "api_key":
		b = append(b, "api_key="+secretMarker...)
		return g.appendRandom(b, randAlnum, 20)
	case "aws_key":
		b = append(b, "AKIA"+secretMarker...)
		return g.appendRandom(b, randUpper, 10)
	case "jwt":
		b = append(b, "session eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiaWF0IjoxNzY0ODkwMDAwfQ."+secretMarker...)
		return g.appendRandom(b, randB64, 37)
	case "card":
		return append(b, "card "+testCards[g.rng.IntN(len(testCards))]...)
	default: // email
		b = append(b, "customer "...)
		b = append(b, []string{"jane.doe", "j.smith", "ops+alerts", "maria_garcia"}[g.rng.IntN(4)]...)
		b = append(b, "."+secretMarker...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(1000)), 10)
		return append(b, []string{"@example.com", "@mail.example.org", "@corp.example.co.uk"}[g.rng.IntN(3)]...)
	}
}

// appendSecret appends a line carrying one secret: a plain text line or,
// half the time, a JSON line with the secret in a field.
func (g *lineGen) appendSecret(b []byte) []byte {
	kind := secretKinds[g.rng.IntN(len(secretKinds))]
	if g.secrets == nil {
		g.secrets = map[string]int64{}
	}
	g.secrets[kind]++
	if g.rng.IntN(2) == 0 {
		b = append(b, "seq="...)
		b = strconv.AppendInt(b, g.seq, 10)
		b = append(b, " src="...)
		b = append(b, g.src...)
		b = append(b, " outbound call to payments-api: "...)
		b = g.appendSecretValue(b, kind)
		return append(b, " status=200"...)
	}
	g.secretsInJSON++
	b = append(b, `{"ts":"`...)
	b = g.t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"info","logger":"auth","msg":"session checked","detail":"`...)
	b = g.appendSecretValue(b, kind)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, g.seq, 10)
	return fmt.Appendf(b, `,"src":"%s"}`, g.src)
}

// secretScan counts, in the bytes written to it, the strings that give a
// planted secret away (including those split between two writes) and the
// replacement the agent masks them with.
type secretScan struct {
	marker, replacement *recordCounter
	cards               []*recordCounter
	// parts of secrets that must not survive either: an e-mail's @, an
	// AWS key's prefix, a JWT's header
	at, akia, eyj *recordCounter
}

func newSecretScan(replacement string) *secretScan {
	s := &secretScan{marker: newRecordCounter(secretMarker), replacement: newRecordCounter(replacement),
		at: newRecordCounter("@"), akia: newRecordCounter("AKIA"), eyj: newRecordCounter("eyJ")}
	for _, c := range testCards {
		s.cards = append(s.cards, newRecordCounter(c))
	}
	return s
}

var _ io.Writer = (*secretScan)(nil)

func (s *secretScan) Write(p []byte) (int, error) {
	for _, c := range s.counters() {
		c.Write(p)
	}
	return len(p), nil
}

func (s *secretScan) counters() []*recordCounter {
	return append([]*recordCounter{s.marker, s.replacement, s.at, s.akia, s.eyj}, s.cards...)
}

// Cards is the number of test card numbers seen.
func (s *secretScan) Cards() int64 {
	var n int64
	for _, c := range s.cards {
		n += c.Count()
	}
	return n
}

// Leaks is the number of secrets, or parts of one, seen.
func (s *secretScan) Leaks() int64 {
	return s.marker.Count() + s.Cards() + s.at.Count() + s.akia.Count() + s.eyj.Count()
}

func (s *secretScan) String() string {
	return fmt.Sprintf("%d %q, %d test card numbers, %d \"@\", %d \"AKIA\", %d \"eyJ\"; %d %q",
		s.marker.Count(), secretMarker, s.Cards(), s.at.Count(), s.akia.Count(), s.eyj.Count(), s.replacement.Count(), s.replacement.pattern)
}
