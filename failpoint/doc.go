// Package failpoint kills the process at named points of a change made in
// several steps, when the environment asks for it, so that a test can show
// that a kill -9 between any two steps is survived: the process that comes
// back finishes the change or starts it again, and nothing is lost.
//
// FAZT_FAILPOINTS names the points (comma-separated) and
// FAZT_FAILPOINT_DIR a directory where each point, as it fires, leaves a
// file of its name: a point fires once, so the process its supervisor
// starts again goes on to the next one. Without both variables Hit does
// nothing (one map lookup).
package failpoint
