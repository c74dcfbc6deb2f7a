package npy

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits on what a header may declare. They are far above anything a real
// array needs and keep a corrupt or hostile header from making the decoder
// allocate or loop without bound.
const (
	// maxHeaderLen bounds the header dictionary text. numpy itself refuses
	// headers over 10,000 bytes by default.
	maxHeaderLen = 1 << 16
	// maxDims bounds the number of axes (numpy 2 allows 64).
	maxDims = 64
	// maxPayload bounds the payload size in bytes (64 TiB).
	maxPayload = 1 << 46
)

// header is the parsed dictionary of a .npy header.
type header struct {
	descr   string
	fortran bool
	shape   []int
}

// parseHeader parses the Python dict literal of a .npy header, for example
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//
// It accepts exactly the three keys numpy writes, each once, with a string
// descr, a boolean fortran_order and a tuple of non-negative integers as
// shape. Anything else (structured dtypes, extra keys, expressions) is an
// error.
func parseHeader(s string) (header, error) {
	p := headerParser{s: s}
	var h header
	seen := map[string]bool{}
	p.skipSpace()
	if !p.eat('{') {
		return h, p.errorf("header does not start with '{'")
	}
	for {
		p.skipSpace()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, p.errorf("duplicate key %q", key)
		}
		seen[key] = true
		p.skipSpace()
		if !p.eat(':') {
			return h, p.errorf("expected ':' after key %q", key)
		}
		p.skipSpace()
		switch key {
		case "descr":
			if p.peek() == '[' {
				return h, p.errorf("structured dtype (a list descr) is not supported")
			}
			if h.descr, err = p.str(); err != nil {
				return h, err
			}
		case "fortran_order":
			if h.fortran, err = p.boolean(); err != nil {
				return h, err
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, p.errorf("unexpected key %q (want descr, fortran_order, shape)", key)
		}
		p.skipSpace()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return h, p.errorf("expected ',' or '}' after value of %q", key)
		}
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return h, p.errorf("unexpected text after the closing '}'")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("header has no %q key", k)
		}
	}
	return h, nil
}

type headerParser struct {
	s string
	i int
}

func (p *headerParser) errorf(format string, args ...any) error {
	return fmt.Errorf("header at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *headerParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *headerParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *headerParser) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

// str parses a quoted string without escapes.
func (p *headerParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("expected a quoted string")
	}
	start := p.i + 1
	end := strings.IndexByte(p.s[start:], q)
	if end < 0 {
		return "", p.errorf("unterminated string")
	}
	v := p.s[start : start+end]
	if strings.ContainsAny(v, "\\\n") {
		return "", p.errorf("string %q has escapes or newlines", v)
	}
	p.i = start + end + 1
	return v, nil
}

func (p *headerParser) boolean() (bool, error) {
	switch {
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	}
	return false, p.errorf("fortran_order is not True or False")
}

// tuple parses "()", "(3,)", "(3, 4)" and the Python 2 form "(3L, 4L)".
func (p *headerParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.errorf("shape is not a tuple")
	}
	shape := []int{}
	comma := false
	for {
		p.skipSpace()
		if p.eat(')') {
			break
		}
		if len(shape) == maxDims {
			return nil, p.errorf("shape has more than %d axes", maxDims)
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return nil, p.errorf("shape entry is not a non-negative integer")
		}
		n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil || n > maxPayload {
			return nil, p.errorf("shape entry %s is too large", p.s[start:p.i])
		}
		p.eat('L')
		shape = append(shape, int(n))
		p.skipSpace()
		if p.eat(')') {
			break
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or ')' in shape")
		}
		comma = true
	}
	if len(shape) == 1 && !comma {
		// "(3)" is the integer 3 in Python, not a tuple.
		return nil, p.errorf("shape (%d) is an integer, not a tuple", shape[0])
	}
	return shape, nil
}

// formatHeader returns the header dict exactly as numpy 1.24 writes it,
// including the spare spaces numpy leaves for growing the first axis.
func formatHeader(descr string, fortran bool, shape []int) string {
	var b strings.Builder
	b.WriteString("{'descr': '")
	b.WriteString(descr)
	b.WriteString("', 'fortran_order': ")
	if fortran {
		b.WriteString("True")
	} else {
		b.WriteString("False")
	}
	b.WriteString(", 'shape': ")
	b.WriteString(shapeRepr(shape))
	b.WriteString(", }")
	if len(shape) > 0 {
		axis := shape[0]
		if fortran {
			axis = shape[len(shape)-1]
		}
		b.WriteString(strings.Repeat(" ", growthAxisMaxDigits-len(strconv.Itoa(axis))))
	}
	return b.String()
}

// growthAxisMaxDigits mirrors numpy's GROWTH_AXIS_MAX_DIGITS.
const growthAxisMaxDigits = 21

// shapeRepr writes a shape as Python's repr of a tuple: "()", "(3,)", "(3, 4)".
func shapeRepr(shape []int) string {
	switch len(shape) {
	case 0:
		return "()"
	case 1:
		return "(" + strconv.Itoa(shape[0]) + ",)"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
