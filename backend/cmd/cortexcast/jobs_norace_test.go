//go:build !race

package main

// raceEnabled says the race detector (and with it checkptr) is on.
const raceEnabled = false
