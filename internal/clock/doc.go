// Package clock provides a clock that runs faster than real time: the demo's,
// on which an hour of AWS Marketplace metering passes in a minute, so that a
// person trying marketbridge sees usage billed without waiting for the hour.
package clock
