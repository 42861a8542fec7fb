//go:build !race

package netlab

// raceEnabled tells GoBuild to build programs with the race detector,
// like the tests that start it.
const raceEnabled = false
