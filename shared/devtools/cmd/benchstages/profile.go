package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A reader of the pprof profile format (profile.proto) for what this command needs: each
// sample's value of one type (CPU time, bytes allocated), labels and stack as (function,
// file) frames from the leaf up. The
// format is small and stable; reading it here keeps the module free of a dependency whose
// go.mod would raise the project's go line.

// frame is one function on a stack; inlined calls are frames of their own.
type frame struct{ name, file string }

type sample struct {
	// value is the sample's value of the type asked for: CPU nanoseconds, bytes allocated.
	value  int64
	labels map[string]string
	stack  []frame // leaf first
}

type profile struct {
	samples []sample
}

// protobuf field numbers of profile.proto.
const (
	profSampleType = 1
	profSample     = 2
	profLocation   = 4
	profFunction   = 5
	profStrings    = 6

	sampleLocation = 1
	sampleValue    = 2
	sampleLabel    = 3

	labelKey = 1
	labelStr = 2

	locID   = 1
	locLine = 4

	lineFunction = 1

	fnID   = 1
	fnName = 2
	fnFile = 4

	valueTypeType = 1
)

type rawSample struct {
	locs   []uint64
	values []int64
	labels [][2]int64 // key, str (string table indexes)
}

// parseProfile reads a profile's samples of value type typ ("cpu", "alloc_space").
func parseProfile(data []byte, typ string) (*profile, error) {
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	var (
		strs        []string
		sampleTypes []int64 // type string index per value
		raws        []rawSample
		locLines    = map[uint64][]uint64{} // location -> function ids, leaf first
		fns         = map[uint64][2]int64{} // function -> name, file string indexes
	)
	err := fields(data, func(num int, wire int, v uint64, b []byte) error {
		switch num {
		case profStrings:
			strs = append(strs, string(b))
		case profSampleType:
			var typ int64
			if err := fields(b, func(n, _ int, v uint64, _ []byte) error {
				if n == valueTypeType {
					typ = int64(v)
				}
				return nil
			}); err != nil {
				return err
			}
			sampleTypes = append(sampleTypes, typ)
		case profSample:
			var s rawSample
			if err := fields(b, func(n, w int, v uint64, b []byte) error {
				switch n {
				case sampleLocation:
					return repeated(w, v, b, func(x uint64) { s.locs = append(s.locs, x) })
				case sampleValue:
					return repeated(w, v, b, func(x uint64) { s.values = append(s.values, int64(x)) })
				case sampleLabel:
					var kv [2]int64
					if err := fields(b, func(n, _ int, v uint64, _ []byte) error {
						switch n {
						case labelKey:
							kv[0] = int64(v)
						case labelStr:
							kv[1] = int64(v)
						}
						return nil
					}); err != nil {
						return err
					}
					s.labels = append(s.labels, kv)
				}
				return nil
			}); err != nil {
				return err
			}
			raws = append(raws, s)
		case profLocation:
			var id uint64
			var lines []uint64
			if err := fields(b, func(n, _ int, v uint64, b []byte) error {
				switch n {
				case locID:
					id = v
				case locLine:
					return fields(b, func(n, _ int, v uint64, _ []byte) error {
						if n == lineFunction {
							lines = append(lines, v)
						}
						return nil
					})
				}
				return nil
			}); err != nil {
				return err
			}
			locLines[id] = lines
		case profFunction:
			var id uint64
			var nf [2]int64
			if err := fields(b, func(n, _ int, v uint64, _ []byte) error {
				switch n {
				case fnID:
					id = v
				case fnName:
					nf[0] = int64(v)
				case fnFile:
					nf[1] = int64(v)
				}
				return nil
			}); err != nil {
				return err
			}
			fns[id] = nf
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	str := func(i int64) string {
		if i < 0 || int(i) >= len(strs) {
			return ""
		}
		return strs[i]
	}
	vi := -1
	for i, t := range sampleTypes {
		if str(t) == typ {
			vi = i
		}
	}
	if vi < 0 {
		return nil, fmt.Errorf("profile: no %s sample type", typ)
	}
	p := &profile{samples: make([]sample, 0, len(raws))}
	for _, r := range raws {
		if vi >= len(r.values) {
			continue
		}
		s := sample{value: r.values[vi], labels: map[string]string{}}
		for _, kv := range r.labels {
			s.labels[str(kv[0])] = str(kv[1])
		}
		for _, l := range r.locs {
			for _, f := range locLines[l] {
				nf := fns[f]
				s.stack = append(s.stack, frame{name: str(nf[0]), file: str(nf[1])})
			}
		}
		p.samples = append(p.samples, s)
	}
	return p, nil
}

// fields calls fn for each field of a protobuf message: v for varints (and fixed-width
// values), b for length-delimited ones.
func fields(data []byte, fn func(num, wire int, v uint64, b []byte) error) error {
	for len(data) > 0 {
		key, n := uvarint(data)
		if n <= 0 {
			return errors.New("bad field key")
		}
		data = data[n:]
		num, wire := int(key>>3), int(key&7)
		var v uint64
		var b []byte
		switch wire {
		case 0:
			v, n = uvarint(data)
			if n <= 0 {
				return errors.New("bad varint")
			}
			data = data[n:]
		case 1:
			if len(data) < 8 {
				return errors.New("short fixed64")
			}
			data = data[8:]
		case 2:
			l, n := uvarint(data)
			if n <= 0 || uint64(len(data)-n) < l {
				return errors.New("bad length")
			}
			b, data = data[n:n+int(l)], data[n+int(l):]
		case 5:
			if len(data) < 4 {
				return errors.New("short fixed32")
			}
			data = data[4:]
		default:
			return fmt.Errorf("wire type %d", wire)
		}
		if err := fn(num, wire, v, b); err != nil {
			return err
		}
	}
	return nil
}

// repeated reads a repeated integer field, packed or not.
func repeated(wire int, v uint64, b []byte, add func(uint64)) error {
	if wire == 0 {
		add(v)
		return nil
	}
	for len(b) > 0 {
		x, n := uvarint(b)
		if n <= 0 {
			return errors.New("bad packed varint")
		}
		add(x)
		b = b[n:]
	}
	return nil
}

func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }
