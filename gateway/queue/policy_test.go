package queue

import (
	"testing"
	"time"
)

func TestPolicyWithDefaults(t *testing.T) {
	d := Policy{DedupeWindow: time.Hour, QuarantineAfter: 3, RetainFor: 2 * time.Hour, RetainCount: 10, SweepInterval: time.Minute}
	tests := []struct {
		name string
		in   Policy
		want Policy
	}{
		{"zero takes every default", Policy{}, d},
		{"negative stays off", Policy{DedupeWindow: -1, QuarantineAfter: -1, RetainFor: -1, RetainCount: -1, SweepInterval: -1},
			Policy{DedupeWindow: -1, QuarantineAfter: -1, RetainFor: -1, RetainCount: -1, SweepInterval: -1}},
		{"set fields are kept, the rest defaulted", Policy{DedupeWindow: 5 * time.Second, RetainCount: 1},
			Policy{DedupeWindow: 5 * time.Second, QuarantineAfter: 3, RetainFor: 2 * time.Hour, RetainCount: 1, SweepInterval: time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.WithDefaults(d); got != tc.want {
				t.Errorf("WithDefaults = %+v, want %+v", got, tc.want)
			}
		})
	}
}
