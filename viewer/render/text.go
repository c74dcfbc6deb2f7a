package render

// ASCII approximates s with printable ASCII for the built-in debug font:
// dashes become '-', an ellipsis "...", other characters '?'; control
// characters become spaces.
func ASCII(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 0x20 && r <= 0x7e:
			out = append(out, byte(r))
		case r == '\u2012' || r == '\u2013' || r == '\u2014' || r == '\u2015' || r == '\u2212':
			out = append(out, '-')
		case r == '\u2026':
			out = append(out, "..."...)
		case r < 0x20:
			out = append(out, ' ')
		default:
			out = append(out, '?')
		}
	}
	return string(out)
}
