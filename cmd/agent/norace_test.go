//go:build !race

package main

// raceSlowdown scales time bounds of tests under the race detector, which
// makes CPU-bound code several times slower.
const raceSlowdown = 1
