package local

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// fill sets every field reachable from v to a distinct non-zero value:
// strings, integers, bools, times, byte slices, string slices, maps and
// slices of structs. A field of a kind it does not know fails the test,
// so a new field type is not silently skipped.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)) + time.Duration(*n).String())
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n) * -7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1700000000, int64(*n)).In(time.FixedZone("", 3600))))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(`{"n":` + time.Duration(*n).String()[:1] + `}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, n)
		fill(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	default:
		t.Fatalf("fill: field of kind %s (%s) not handled: teach the binary codec and this test", v.Kind(), v.Type())
	}
}

func TestBinaryCodecCoversEveryField(t *testing.T) {
	t.Run("record", func(t *testing.T) {
		var r record
		n := 0
		fill(t, reflect.ValueOf(&r).Elem(), &n)
		b, err := encodeRecord(&r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(&r)
		if string(g) != string(w) {
			t.Errorf("record round trip:\n got %s\nwant %s", g, w)
		}
	})
	t.Run("envelope", func(t *testing.T) {
		var e envelope.Envelope
		n := 0
		fill(t, reflect.ValueOf(&e).Elem(), &n)
		e.Payload = json.RawMessage(`{"object_kind":"note"}`)
		var got envelope.Envelope
		if err := decodeEnvelope(mustEncode(t, &e), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("envelope round trip:\n got %+v\nwant %+v", got, e)
		}
	})
	t.Run("nil and empty lists", func(t *testing.T) {
		e := envelope.Envelope{Labels: []string{}, MergeRequest: envelope.MergeRequest{Labels: nil}}
		var got envelope.Envelope
		if err := decodeEnvelope(mustEncode(t, &e), &got); err != nil {
			t.Fatal(err)
		}
		if got.Labels == nil || got.MergeRequest.Labels != nil || got.Commands != nil {
			t.Errorf("labels %#v, MR labels %#v, commands %#v", got.Labels, got.MergeRequest.Labels, got.Commands)
		}
	})
}

func TestBinaryCodecRefusesGarbage(t *testing.T) {
	r := &record{ID: "x", Headers: map[string]string{"a": "b"}, Outcomes: json.RawMessage(`[]`)}
	b, _ := encodeRecord(r)
	for cut := 1; cut < len(b); cut++ {
		if _, err := decodeRecord(b[:cut]); err == nil {
			t.Fatalf("record cut at %d of %d decoded", cut, len(b))
		}
	}
	if _, err := decodeRecord(append(b, 0)); err == nil {
		t.Error("record with trailing bytes decoded")
	}
	huge := []byte{recordBinary, 1, 'x', 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if _, err := decodeRecord(huge); err == nil {
		t.Error("record claiming billions of headers decoded")
	}
}
