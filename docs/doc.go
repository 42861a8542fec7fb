// Package docs holds the operator documentation of intransit (the Markdown
// files of this directory, the example configurations in examples/ and the
// source of the intransitd(8) manual page) and the code that keeps it true
// to the program: the configuration reference is made from the types of
// internal/daemonconfig, their doc comments and the reload data of
// internal/gatewaycore; the table of TLS profiles from tlspolicy's built-in
// profiles. The tests fail when a generated part is out of date, a setting
// or a refusal reason is missing from the documentation, or an example is
// refused by intransitd --check; `go test ./docs -update` rewrites the
// generated parts.
package docs
