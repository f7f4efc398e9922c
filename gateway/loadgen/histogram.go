package loadgen

import (
	"math/bits"
	"time"
)

// subBits is the number of mantissa bits a Histogram keeps: 2^subBits
// buckets per power of two, so a recorded value is off by less than
// 1/2^subBits (under 0.8%).
const subBits = 7

// histBuckets covers every non-negative int64 (nanoseconds: 292 years).
const histBuckets = (64 - subBits + 1) << subBits

// Histogram counts durations in log-linear buckets (the HDR histogram
// idea): constant memory (about 60 KiB) whatever the number of samples,
// and quantiles within 0.8% of the exact value. Min and max are exact. The
// zero value is ready to use; a Histogram is not safe for concurrent use:
// give each goroutine its own and Merge them.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	min    time.Duration
	max    time.Duration
	sum    time.Duration
}

// bucketOf maps v >= 0 to its bucket: values below 2^subBits have a bucket
// each; above, the top subBits+1 significant bits select the bucket.
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	exp := bits.Len64(v) - subBits - 1 // how far v is shifted right
	return (exp+1)<<subBits + int(v>>uint(exp)) - 1<<subBits
}

// bucketUpper is the largest value that falls in bucket i.
func bucketUpper(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	exp := i>>subBits - 1
	mant := uint64(i&(1<<subBits-1) + 1<<subBits)
	return (mant+1)<<uint(exp) - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.sum += d
	h.n++
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.sum += o.sum
	h.n += o.n
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest sample (exact).
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average sample.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// samples lie: the upper bound of the bucket holding the sample of rank
// ceil(q*n), capped at Max. 0 when there are no samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(time.Duration(bucketUpper(i)), h.min), h.max)
		}
	}
	return h.max
}
