package features

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// The operators of nativeNet. Each build* function checks a node's
// attributes once and returns the function that runs it; shapes are checked
// at run time. Every step returns a new buffer, or (when n.reuse allows) its
// input's buffer overwritten: no two live values share memory.

// stepFunc runs one node on its inputs' values.
type stepFunc = func(n *nativeNet, in []ntensor) (ntensor, error)

// maxColValues bounds the im2col matrix (64 MB of float32): a batch whose
// matrix would be larger is convolved a few images at a time.
const maxColValues = 1 << 24

// maxNativeValues bounds every value the native engine computes (1 GiB of
// float32): a hostile or mistaken model gets an error, not an exhausted
// machine.
const maxNativeValues = 1 << 28

// checkSize returns an error when a tensor of shape s would be over
// n.maxValues values (or has a negative dimension).
func (n *nativeNet) checkSize(s []int) error {
	p := 1
	for _, d := range s {
		if d < 0 || (d > 0 && p > n.maxValues/d) {
			return fmt.Errorf("a value of shape %s is over the native engine's limit of %d values", shapeString(s), n.maxValues)
		}
		p *= d
	}
	return nil
}

// parallelFor runs fn over [0, n) split into one contiguous range per core.
func parallelFor(n int, fn func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n)
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := range w {
		lo, hi := k*n/w, (k+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// outBuf returns the buffer for a step's result of size values: input j's
// own when it is not read again and has that size, a new one otherwise.
func (n *nativeNet) outBuf(in []ntensor, j, size int) []float32 {
	if j < len(in) && n.reuse[j] && len(in[j].data) == size {
		return in[j].data
	}
	return make([]float32, size)
}

// attrInts returns an ints attribute, or def when absent, checking its length.
func attrInts(nd onnxNode, name string, def []int, want int) ([]int, error) {
	a, ok := nd.attrs[name]
	if !ok {
		return def, nil
	}
	if want > 0 && len(a.ints) != want {
		return nil, fmt.Errorf("attribute %s has %d values, want %d", name, len(a.ints), want)
	}
	v := make([]int, len(a.ints))
	for i, x := range a.ints {
		if x < 0 || x > 1<<20 {
			return nil, fmt.Errorf("attribute %s = %v: out of range", name, a.ints)
		}
		v[i] = int(x)
	}
	return v, nil
}

// attrInt returns an int attribute, or def when absent.
func attrInt(nd onnxNode, name string, def int64) int64 {
	if a, ok := nd.attrs[name]; ok {
		return a.i
	}
	return def
}

// attrFloat returns a float attribute, or def when absent.
func attrFloat(nd onnxNode, name string, def float32) float32 {
	if a, ok := nd.attrs[name]; ok {
		return a.f
	}
	return def
}

// window2d is the geometry shared by Conv and the pools: kernel, strides,
// dilations and begin/end padding of the two spatial axes.
type window2d struct {
	k, s, d     [2]int
	pb, pe      [2]int
	autoPad     string // "", "NOTSET", "VALID", "SAME_UPPER" or "SAME_LOWER"
	ceil        bool
	global      bool // the kernel is the whole input plane
	pool        bool // a pooling window (not a convolution's)
	includePads bool // AveragePool's count_include_pad
}

func parseWindow(nd onnxNode, kernel []int) (window2d, error) {
	w := window2d{s: [2]int{1, 1}, d: [2]int{1, 1}}
	if nd.op == "GlobalAveragePool" || nd.op == "GlobalMaxPool" {
		w.global = true
		return w, nil
	}
	k, err := attrInts(nd, "kernel_shape", kernel, 2)
	if err != nil {
		return w, err
	}
	if len(k) != 2 {
		return w, fmt.Errorf("kernel_shape %v: the native engine runs 2-D windows only", k)
	}
	s, err := attrInts(nd, "strides", []int{1, 1}, 2)
	if err != nil {
		return w, err
	}
	d, err := attrInts(nd, "dilations", []int{1, 1}, 2)
	if err != nil {
		return w, err
	}
	p, err := attrInts(nd, "pads", []int{0, 0, 0, 0}, 4)
	if err != nil {
		return w, err
	}
	for i := range 2 {
		if k[i] < 1 || s[i] < 1 || d[i] < 1 {
			return w, fmt.Errorf("kernel %v, strides %v, dilations %v: want positive values", k, s, d)
		}
		w.k[i], w.s[i], w.d[i], w.pb[i], w.pe[i] = k[i], s[i], d[i], p[i], p[2+i]
	}
	w.autoPad = nd.attrs["auto_pad"].s
	switch w.autoPad {
	case "", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return w, fmt.Errorf("auto_pad %q", w.autoPad)
	}
	w.ceil = attrInt(nd, "ceil_mode", 0) != 0
	w.includePads = attrInt(nd, "count_include_pad", 0) != 0
	return w, nil
}

// geometry returns the output size and the begin padding of each spatial
// axis for an input plane of h×w.
func (w window2d) geometry(h, wd int) (out, pb, pe [2]int, err error) {
	in := [2]int{h, wd}
	for i := range 2 {
		k, s := w.k[i], w.s[i]
		if w.global {
			k, s = in[i], 1
		}
		span := (k-1)*w.d[i] + 1
		b, e := w.pb[i], w.pe[i]
		switch w.autoPad {
		case "VALID":
			b, e = 0, 0
		case "SAME_UPPER", "SAME_LOWER":
			o := (in[i] + s - 1) / s
			total := max(0, (o-1)*s+span-in[i])
			b = total / 2
			if w.autoPad == "SAME_LOWER" {
				b = total - total/2
			}
			e = total - b
		}
		if w.global {
			b, e = 0, 0
		}
		if w.pool && !w.global && (span > in[i] || b >= span || e >= span) {
			// Bounds the work (output × kernel area) a model can ask for.
			return out, pb, pe, fmt.Errorf("pooling window of %d with pads %d, %d on an input of %d: want the window inside the input and pads smaller than it", span, b, e, in[i])
		}
		room := in[i] + b + e - span
		if room < 0 {
			return out, pb, pe, fmt.Errorf("window of %d (kernel %d, dilation %d) larger than the padded input %d", span, k, w.d[i], in[i]+b+e)
		}
		o := room/s + 1
		if w.ceil && room%s != 0 {
			o++
			// The last window must start inside the input or the
			// begin padding (as PyTorch and onnxruntime count).
			if (o-1)*s >= in[i]+b {
				o--
			}
		}
		out[i], pb[i], pe[i] = o, b, e
	}
	return out, pb, pe, nil
}

// shape4 checks that x is N×C×H×W.
func shape4(x ntensor) (nb, c, h, w int, err error) {
	if len(x.shape) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("input of shape %s: want N×C×H×W", shapeString(x.shape))
	}
	return x.shape[0], x.shape[1], x.shape[2], x.shape[3], nil
}

// constInput returns the constant (initializer or Constant) named by input i.
func constInput(n *nativeNet, nd onnxNode, i int, what string) (ntensor, error) {
	if i >= len(nd.inputs) || nd.inputs[i] == "" {
		return ntensor{}, fmt.Errorf("no %s input", what)
	}
	c, ok := n.consts[nd.inputs[i]]
	if !ok {
		return ntensor{}, fmt.Errorf("%s %q is not a float32 initializer or constant", what, nd.inputs[i])
	}
	return c, nil
}

// buildConv: a 2-D convolution as im2col + one product per group.
func buildConv(nd onnxNode, n *nativeNet) (stepFunc, error) {
	wt, err := constInput(n, nd, 1, "weight")
	if err != nil {
		return nil, err
	}
	if len(wt.shape) != 4 {
		return nil, fmt.Errorf("weight of shape %s: the native engine runs 2-D convolutions only", shapeString(wt.shape))
	}
	m, cg, kh, kw := wt.shape[0], wt.shape[1], wt.shape[2], wt.shape[3]
	var bias []float32
	if len(nd.inputs) > 2 && nd.inputs[2] != "" {
		b, err := constInput(n, nd, 2, "bias")
		if err != nil {
			return nil, err
		}
		if len(b.data) != m {
			return nil, fmt.Errorf("bias of %d values for %d output channels", len(b.data), m)
		}
		bias = b.data
	}
	group := int(attrInt(nd, "group", 1))
	if group < 1 || m%group != 0 {
		return nil, fmt.Errorf("group %d does not divide %d output channels", group, m)
	}
	win, err := parseWindow(nd, []int{kh, kw})
	if err != nil {
		return nil, err
	}
	if win.k != [2]int{kh, kw} {
		return nil, fmt.Errorf("kernel_shape %v but weight kernel %d×%d", win.k, kh, kw)
	}
	mg := m / group
	kdim := cg * kh * kw
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		nb, c, h, w, err := shape4(in[0])
		if err != nil {
			return ntensor{}, err
		}
		if c != cg*group {
			return ntensor{}, fmt.Errorf("input has %d channels, weight wants %d×%d groups", c, cg, group)
		}
		o, pb, _, err := win.geometry(h, w)
		if err != nil {
			return ntensor{}, err
		}
		ho, wo := o[0], o[1]
		p := ho * wo
		if err := n.checkSize([]int{nb, m, ho, wo}); err != nil {
			return ntensor{}, err
		}
		if err := n.checkSize([]int{kdim, min(nb, max(1, maxColValues/max(1, kdim*p))), p}); err != nil {
			return ntensor{}, err
		}
		x := in[0].data
		out := make([]float32, nb*m*p)
		// Images per product: as many as keep the column matrix small.
		chunk := max(1, min(nb, maxColValues/max(1, kdim*p)))
		cols := chunk * p
		n.scratch = growFloats(n.scratch, kdim*cols)
		n.gemmOut = growFloats(n.gemmOut, mg*cols)
		// Valid output columns for each kernel column: ix = ox·s − pad +
		// kj·d must lie in [0, w).
		lo, hi := make([]int, kw), make([]int, kw)
		for kj := range kw {
			off := kj*win.d[1] - pb[1]
			lo[kj] = min(wo, max(0, ceilDiv(-off, win.s[1])))
			hi[kj] = max(lo[kj], min(wo, ceilDiv(w-off, win.s[1])))
		}
		for b0 := 0; b0 < nb; b0 += chunk {
			bn := min(chunk, nb-b0)
			ld := bn * p
			for g := range group {
				col := n.scratch[:kdim*ld]
				parallelFor(kdim, func(r0, r1 int) {
					for r := r0; r < r1; r++ {
						ci, ki, kj := r/(kh*kw), (r/kw)%kh, r%kw
						off := kj*win.d[1] - pb[1]
						for bi := range bn {
							plane := x[((b0+bi)*c+g*cg+ci)*h*w:][:h*w]
							dst := col[r*ld+bi*p:][:p]
							for oy := range ho {
								row := dst[oy*wo:][:wo]
								iy := oy*win.s[0] - pb[0] + ki*win.d[0]
								if iy < 0 || iy >= h {
									clear(row)
									continue
								}
								src := plane[iy*w:][:w]
								clear(row[:lo[kj]])
								if win.s[1] == 1 {
									copy(row[lo[kj]:hi[kj]], src[lo[kj]+off:])
								} else if seg := row[lo[kj]:hi[kj]]; len(seg) > 0 {
									sx := win.s[1]
									from := src[lo[kj]*sx+off : (hi[kj]-1)*sx+off+1]
									for j := range seg {
										seg[j] = from[j*sx]
									}
								}
								clear(row[hi[kj]:])
							}
						}
					}
				})
				prod := n.gemmOut[:mg*ld]
				blas32.Implementation().Sgemm(blas.NoTrans, blas.NoTrans, mg, ld, kdim,
					1, wt.data[g*mg*kdim:], kdim, col, ld, 0, prod, ld)
				parallelFor(mg, func(m0, m1 int) {
					for mi := m0; mi < m1; mi++ {
						var bv float32
						if bias != nil {
							bv = bias[g*mg+mi]
						}
						for bi := range bn {
							src := prod[mi*ld+bi*p:][:p]
							dst := out[((b0+bi)*m+g*mg+mi)*p:][:p]
							for i, v := range src {
								dst[i] = v + bv
							}
						}
					}
				})
			}
		}
		return ntensor{data: out, shape: []int{nb, m, ho, wo}}, nil
	}, nil
}

// ceilDiv is ⌈a/b⌉ for b > 0 and any a.
func ceilDiv(a, b int) int {
	if a >= 0 {
		return (a + b - 1) / b
	}
	return -(-a / b)
}

// growFloats returns buf resliced to n values, reallocated when too small.
func growFloats(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// buildUnary: Relu, Sigmoid, Erf, Sqrt, and Identity and Dropout
// (inference: a copy).
func buildUnary(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	if nd.op == "Dropout" && len(nd.inputs) > 2 && nd.inputs[2] != "" {
		return nil, fmt.Errorf("a training_mode input")
	}
	op := nd.op
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		if op == "Identity" || op == "Dropout" {
			return n.reshaped(in, slices.Clone(x.shape)), nil
		}
		out := n.outBuf(in, 0, len(x.data))
		parallelFor(len(x.data)/4096+1, func(c0, c1 int) {
			lo, hi := c0*4096, min(len(x.data), c1*4096)
			if lo >= hi {
				return
			}
			src, dst := x.data[lo:hi], out[lo:hi]
			switch op {
			case "Relu":
				for i, v := range src {
					dst[i] = max(v, 0)
				}
			case "Sigmoid":
				for i, v := range src {
					dst[i] = -v
				}
				expSlice(dst, dst)
				for i, e := range dst {
					dst[i] = 1 / (1 + e)
				}
			case "Erf":
				erfSlice(dst, src)
			case "Sqrt":
				for i, v := range src {
					dst[i] = float32(math.Sqrt(float64(v)))
				}
			}
		})
		return ntensor{data: out, shape: slices.Clone(x.shape)}, nil
	}, nil
}

// erff is erf(x) to within 2e-7 (absolute): a Taylor series near 0 and
// Abramowitz & Stegun 7.1.26 with expf elsewhere. math.Erf calls math.Exp,
// slow in simd builds (see expf); SAM's GELU computes it per activation.
func erff(x float32) float32 {
	return erfWith(x, expf(-x*x))
}

// erfSlice writes erf(src[i]) into dst[i] (dst may be src), the
// exponentials by expSlice.
func erfSlice(dst, src []float32) {
	var e [256]float32
	for lo := 0; lo < len(src); lo += len(e) {
		x := src[lo:min(len(src), lo+len(e))]
		ex := e[:len(x)]
		for i, v := range x {
			ex[i] = -v * v
		}
		expSlice(ex, ex)
		for i, v := range x {
			dst[lo+i] = erfWith(v, ex[i])
		}
	}
}

// erfWith is erff given expNegSq = e^(−x²).
func erfWith(x, expNegSq float32) float32 {
	a := math.Abs(float64(x))
	if a < 0.5 {
		z := float64(x)
		z2 := z * z
		// 2/√π · (z − z³/3 + z⁵/10 − z⁷/42 + z⁹/216 − z¹¹/1320)
		return float32(1.1283791670955126 * z * (1 + z2*(-1.0/3+z2*(1.0/10+z2*(-1.0/42+z2*(1.0/216-z2/1320))))))
	}
	t := 1 / (1 + 0.3275911*a)
	p := t * (0.254829592 + t*(-0.284496736+t*(1.421413741+t*(-1.453152027+t*1.061405429))))
	y := 1 - p*float64(expNegSq)
	if x < 0 {
		y = -y
	}
	return float32(y)
}

// expf is e^x in float32 precision (relative error under 2e-7), by
// x = k·ln2 + r with |r| ≤ ln2/2 and a degree-7 polynomial in r. It avoids
// math.Exp, whose assembly runs 30–100× slower in GOEXPERIMENT=simd
// builds on this project's machines (see im2colBackend's Logistic).
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 88.8:
		return float32(math.Inf(1))
	case x < -104:
		return 0
	}
	const log2e, ln2hi, ln2lo = 1.4426950408889634, 6.93147180369123816490e-01, 1.90821492927058770002e-10
	t := float64(x) * log2e
	k := int64(t + 0.5)
	if t < -0.5 {
		k = int64(t - 0.5)
	}
	r := float64(x) - float64(k)*ln2hi - float64(k)*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return float32(math.Float64frombits(math.Float64bits(p) + uint64(k)<<52))
}

// buildPool: MaxPool, AveragePool and their global forms.
func buildPool(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	win, err := parseWindow(nd, nil)
	if err != nil {
		return nil, err
	}
	win.pool = true
	isMax := nd.op == "MaxPool" || nd.op == "GlobalMaxPool"
	if !isMax && (win.d != [2]int{1, 1}) {
		return nil, fmt.Errorf("AveragePool with dilations")
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		nb, c, h, w, err := shape4(in[0])
		if err != nil {
			return ntensor{}, err
		}
		o, pb, pe, err := win.geometry(h, w)
		if err != nil {
			return ntensor{}, err
		}
		k, s, d := win.k, win.s, win.d
		if win.global {
			k, s = [2]int{h, w}, [2]int{1, 1}
		}
		ho, wo := o[0], o[1]
		if err := n.checkSize([]int{nb, c, ho, wo}); err != nil {
			return ntensor{}, err
		}
		x := in[0].data
		out := make([]float32, nb*c*ho*wo)
		if isMax && d == [2]int{1, 1} {
			// Separable: the max over each row's windows, then over
			// columns of those (k0 + k1 comparisons per output, not k0·k1).
			parallelFor(nb*c, func(p0, p1 int) {
				tmp := make([]float32, h*wo)
				for pl := p0; pl < p1; pl++ {
					maxPoolPlane(x[pl*h*w:][:h*w], out[pl*ho*wo:][:ho*wo], tmp, h, w, ho, wo, k, s, pb)
				}
			})
			return ntensor{data: out, shape: []int{nb, c, ho, wo}}, nil
		}
		parallelFor(nb*c, func(p0, p1 int) {
			for pl := p0; pl < p1; pl++ {
				src := x[pl*h*w:][:h*w]
				dst := out[pl*ho*wo:][:ho*wo]
				for oy := range ho {
					y0 := oy*s[0] - pb[0]
					for ox := range wo {
						x0 := ox*s[1] - pb[1]
						if isMax {
							m := float32(math.Inf(-1))
							for ki := range k[0] {
								iy := y0 + ki*d[0]
								if iy < 0 || iy >= h {
									continue
								}
								row := src[iy*w:][:w]
								for kj := range k[1] {
									if ix := x0 + kj*d[1]; ix >= 0 && ix < w {
										m = max(m, row[ix])
									}
								}
							}
							dst[oy*wo+ox] = m
							continue
						}
						// Average: the window clipped to the padded input
						// (count_include_pad) or to the input itself.
						ya, yb := max(y0, 0), min(y0+k[0], h)
						xa, xb := max(x0, 0), min(x0+k[1], w)
						var sum float32
						for iy := ya; iy < yb; iy++ {
							for _, v := range src[iy*w+xa : iy*w+xb] {
								sum += v
							}
						}
						cnt := (yb - ya) * (xb - xa)
						if win.includePads {
							cnt = (min(y0+k[0], h+pe[0]) - y0) * (min(x0+k[1], w+pe[1]) - x0)
						}
						if cnt > 0 {
							dst[oy*wo+ox] = sum / float32(cnt)
						}
					}
				}
			}
		})
		return ntensor{data: out, shape: []int{nb, c, ho, wo}}, nil
	}, nil
}

// maxPoolPlane max-pools one h×w plane src into the ho×wo plane dst
// (kernel k, strides s, begin padding pb; padding never wins), through tmp
// (h×wo): row maxima first, then column maxima of those.
func maxPoolPlane(src, dst, tmp []float32, h, w, ho, wo int, k, s, pb [2]int) {
	inf := float32(math.Inf(-1))
	for iy := range h {
		row, t := src[iy*w:][:w], tmp[iy*wo:][:wo]
		for ox := range wo {
			x0 := ox*s[1] - pb[1]
			m := inf
			for _, v := range row[max(0, x0):min(w, x0+k[1])] {
				m = max(m, v)
			}
			t[ox] = m
		}
	}
	for oy := range ho {
		y0 := oy*s[0] - pb[0]
		d := dst[oy*wo:][:wo]
		for ox := range d {
			d[ox] = inf
		}
		for iy := max(0, y0); iy < min(h, y0+k[0]); iy++ {
			for ox, v := range tmp[iy*wo:][:wo] {
				d[ox] = max(d[ox], v)
			}
		}
	}
}

// buildLRN: local response normalisation across channels (Caffe AlexNet's),
// y = x / (bias + alpha/size · Σ x²)^beta over channels
// c−⌊(size−1)/2⌋ … c+⌈(size−1)/2⌉.
func buildLRN(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	size := int(attrInt(nd, "size", 0))
	if size < 1 {
		return nil, fmt.Errorf("size %d: want a positive window", size)
	}
	alpha := float64(attrFloat(nd, "alpha", 1e-4))
	beta := float64(attrFloat(nd, "beta", 0.75))
	bias := float64(attrFloat(nd, "bias", 1))
	before, after := (size-1)/2, size/2
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		nb, c, h, w, err := shape4(in[0])
		if err != nil {
			return ntensor{}, err
		}
		x := in[0].data
		hw := h * w
		out := make([]float32, len(x))
		parallelFor(nb*hw, func(q0, q1 int) {
			for q := q0; q < q1; q++ {
				img, px := q/hw, q%hw
				base := img * c * hw
				for ch := range c {
					var sum float64
					for cc := max(0, ch-before); cc <= min(c-1, ch+after); cc++ {
						v := float64(x[base+cc*hw+px])
						sum += v * v
					}
					t := bias + alpha/float64(size)*sum
					var scale float64
					if beta == 0.75 {
						r := math.Sqrt(t)
						scale = 1 / (r * math.Sqrt(r))
					} else {
						scale = math.Pow(t, -beta)
					}
					i := base + ch*hw + px
					out[i] = float32(float64(x[i]) * scale)
				}
			}
		})
		return ntensor{data: out, shape: slices.Clone(in[0].shape)}, nil
	}, nil
}

// buildBatchNorm: inference-mode batch normalisation, one scale and shift
// per channel.
func buildBatchNorm(nd onnxNode, n *nativeNet) (stepFunc, error) {
	if attrInt(nd, "training_mode", 0) != 0 {
		return nil, fmt.Errorf("training_mode")
	}
	var p [4][]float32
	for i, what := range []string{"scale", "bias", "mean", "var"} {
		t, err := constInput(n, nd, i+1, what)
		if err != nil {
			return nil, err
		}
		p[i] = t.data
		if len(p[i]) != len(p[0]) {
			return nil, fmt.Errorf("%s has %d values, scale %d", what, len(p[i]), len(p[0]))
		}
	}
	eps := float64(attrFloat(nd, "epsilon", 1e-5))
	a, b := make([]float32, len(p[0])), make([]float32, len(p[0]))
	for i := range a {
		s := float64(p[0][i]) / math.Sqrt(float64(p[3][i])+eps)
		a[i] = float32(s)
		b[i] = float32(float64(p[1][i]) - float64(p[2][i])*s)
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		if len(x.shape) < 2 || x.shape[1] != len(a) {
			return ntensor{}, fmt.Errorf("input of shape %s: want %d channels on axis 1", shapeString(x.shape), len(a))
		}
		inner := shapeSize(x.shape[2:])
		out := n.outBuf(in, 0, len(x.data))
		c := len(a)
		parallelFor(x.shape[0]*c, func(p0, p1 int) {
			for pl := p0; pl < p1; pl++ {
				ch := pl % c
				src, dst := x.data[pl*inner:][:inner], out[pl*inner:][:inner]
				for i, v := range src {
					dst[i] = v*a[ch] + b[ch]
				}
			}
		})
		return ntensor{data: out, shape: slices.Clone(x.shape)}, nil
	}, nil
}

// buildGemm: Gemm (alpha·A·B + beta·C with optional transposes) as one
// BLAS product, and MatMul: an N-D A by a 2-D B as one product, batched
// operands (attention's) as one product per batch element.
func buildGemm(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	alpha, beta := float32(1), float32(1)
	transA, transB := false, false
	if nd.op == "Gemm" {
		alpha, beta = attrFloat(nd, "alpha", 1), attrFloat(nd, "beta", 1)
		transA, transB = attrInt(nd, "transA", 0) != 0, attrInt(nd, "transB", 0) != 0
	}
	if len(nd.inputs) < 2 {
		return nil, fmt.Errorf("%d inputs, want at least 2", len(nd.inputs))
	}
	gemm := nd.op == "Gemm"
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		a, b := in[0], in[1]
		if b.isInt {
			return ntensor{}, fmt.Errorf("int64 input")
		}
		if !gemm && len(a.shape) >= 2 && len(b.shape) > 2 {
			return batchedMatMul(n, a, b)
		}
		if len(b.shape) != 2 || len(a.shape) < 2 || (gemm && len(a.shape) != 2) {
			return ntensor{}, fmt.Errorf("inputs of shapes %s and %s: the native engine multiplies N-D by 2-D, or batches of matrices",
				shapeString(a.shape), shapeString(b.shape))
		}
		k := a.shape[len(a.shape)-1]
		mrows := len(a.data) / max(1, k)
		if transA {
			mrows, k = a.shape[1], a.shape[0]
		}
		kb, nc := b.shape[0], b.shape[1]
		if transB {
			kb, nc = nc, kb
		}
		if kb != k {
			return ntensor{}, fmt.Errorf("inputs of shapes %s and %s: inner sizes %d and %d differ", shapeString(a.shape), shapeString(b.shape), k, kb)
		}
		if err := n.checkSize([]int{mrows, nc}); err != nil {
			return ntensor{}, err
		}
		out := make([]float32, mrows*nc)
		shape := append(slices.Clone(a.shape[:len(a.shape)-1]), nc)
		if transA {
			shape = []int{mrows, nc}
		}
		cb := float32(0)
		if gemm && len(in) > 2 && in[2].data != nil && beta != 0 {
			if err := broadcastInto(out, []int{mrows, nc}, in[2], beta); err != nil {
				return ntensor{}, fmt.Errorf("input C: %w", err)
			}
			cb = 1
		}
		if mrows == 0 || nc == 0 || k == 0 {
			return ntensor{data: out, shape: shape}, nil
		}
		ta, tb := blas.NoTrans, blas.NoTrans
		if transA {
			ta = blas.Trans
		}
		if transB {
			tb = blas.Trans
		}
		blas32.Implementation().Sgemm(ta, tb, mrows, nc, k, alpha, a.data, a.shape[len(a.shape)-1], b.data, b.shape[1], cb, out, nc)
		return ntensor{data: out, shape: shape}, nil
	}, nil
}

// batchedMatMul multiplies A (…×M×K) by B (…×K×N), the batch axes
// broadcast as numpy does; the batch elements run in parallel, one product
// each (they are small: attention's tokens × head width).
func batchedMatMul(n *nativeNet, a, b ntensor) (ntensor, error) {
	ra, rb := len(a.shape), len(b.shape)
	m, k := a.shape[ra-2], a.shape[ra-1]
	kb, nc := b.shape[rb-2], b.shape[rb-1]
	if k != kb {
		return ntensor{}, fmt.Errorf("inputs of shapes %s and %s: inner sizes %d and %d differ", shapeString(a.shape), shapeString(b.shape), k, kb)
	}
	batch, err := broadcastShape(a.shape[:ra-2], b.shape[:rb-2])
	if err != nil {
		return ntensor{}, err
	}
	shape := append(slices.Clone(batch), m, nc)
	if err := n.checkSize(shape); err != nil {
		return ntensor{}, err
	}
	sa, err := broadcastStrides(a.shape[:ra-2], batch)
	if err != nil {
		return ntensor{}, err
	}
	sb, err := broadcastStrides(b.shape[:rb-2], batch)
	if err != nil {
		return ntensor{}, err
	}
	ia, ib := strideIndex(batch, sa, 0), strideIndex(batch, sb, 0)
	out := make([]float32, shapeSize(shape))
	if m == 0 || nc == 0 || k == 0 {
		return ntensor{data: out, shape: shape}, nil
	}
	impl := blas32.Implementation()
	parallelFor(len(ia), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			impl.Sgemm(blas.NoTrans, blas.NoTrans, m, nc, k, 1, a.data[ia[i]*m*k:], k, b.data[ib[i]*k*nc:], nc, 0, out[i*m*nc:], nc)
		}
	})
	return ntensor{data: out, shape: shape}, nil
}

// buildSoftmax: softmax over the last axis. ONNX's default axis changed at
// opset 13 (1 → −1); both mean the last axis of a 2-D input, the only case
// run without an explicit last axis.
func buildSoftmax(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	a, explicit := nd.attrs["axis"]
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		r := len(x.shape)
		ax := int(a.i)
		if ax < 0 {
			ax += r
		}
		if r == 0 || (explicit && ax != r-1) || (!explicit && r != 2) {
			return ntensor{}, fmt.Errorf("softmax over axis %d of shape %s: the native engine runs it over the last axis only", ax, shapeString(x.shape))
		}
		last := x.shape[r-1]
		out := n.outBuf(in, 0, len(x.data))
		if last == 0 {
			return ntensor{data: out, shape: slices.Clone(x.shape)}, nil
		}
		parallelFor(len(x.data)/last, func(r0, r1 int) {
			softmaxRows(x.data[r0*last:r1*last], out[r0*last:r1*last], last)
		})
		return ntensor{data: out, shape: slices.Clone(x.shape)}, nil
	}, nil
}

// softmaxRows writes the softmax of each row of length last of x into out.
func softmaxRows(x, out []float32, last int) {
	for i := 0; i+last <= len(x); i += last {
		src, dst := x[i:i+last], out[i:i+last]
		m := slices.Max(src)
		for j, v := range src {
			dst[j] = v - m
		}
		expSlice(dst, dst)
		var sum float64
		for _, e := range dst {
			sum += float64(e)
		}
		inv := float32(1 / sum)
		for j := range dst {
			dst[j] *= inv
		}
	}
}

// buildLayerNorm: LayerNormalization over the axes from axis on, with
// scale and optional bias.
func buildLayerNorm(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	axis := int(attrInt(nd, "axis", -1))
	eps := float64(attrFloat(nd, "epsilon", 1e-5))
	if len(nd.inputs) < 2 {
		return nil, fmt.Errorf("%d inputs, want at least 2", len(nd.inputs))
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		x := in[0]
		ax, err := normAxis(axis, len(x.shape))
		if err != nil {
			return ntensor{}, err
		}
		inner := shapeSize(x.shape[ax:])
		scale := in[1]
		var bias []float32
		if len(in) > 2 && in[2].data != nil {
			bias = in[2].data
		}
		if scale.isInt || len(scale.data) != inner || (bias != nil && len(bias) != inner) {
			return ntensor{}, fmt.Errorf("scale of %d and bias of %d values for rows of %d", len(scale.data), len(bias), inner)
		}
		out := n.outBuf(in, 0, len(x.data))
		rows := len(x.data) / max(1, inner)
		parallelFor(rows, func(r0, r1 int) {
			for r := r0; r < r1; r++ {
				src, dst := x.data[r*inner:][:inner], out[r*inner:][:inner]
				var sum, sq float64
				for _, v := range src {
					sum += float64(v)
				}
				mean := sum / float64(inner)
				for _, v := range src {
					d := float64(v) - mean
					sq += d * d
				}
				inv := 1 / math.Sqrt(sq/float64(inner)+eps)
				for i, v := range src {
					y := float32((float64(v)-mean)*inv) * scale.data[i]
					if bias != nil {
						y += bias[i]
					}
					dst[i] = y
				}
			}
		})
		return ntensor{data: out, shape: slices.Clone(x.shape)}, nil
	}, nil
}

// buildEinsum: two-operand Einsum without ellipses or repeated labels, as
// one batched matrix product: A's axes arranged as batch × free × summed,
// B's as batch × summed × free, the product rearranged to the output.
func buildEinsum(nd onnxNode, _ *nativeNet) (stepFunc, error) {
	eq := strings.ReplaceAll(nd.attrs["equation"].s, " ", "")
	lhs, out, ok := strings.Cut(eq, "->")
	ins := strings.Split(lhs, ",")
	if !ok || len(ins) != 2 || strings.Contains(eq, ".") {
		return nil, fmt.Errorf("equation %q: the native engine runs two operands with an explicit output, no ellipsis", eq)
	}
	la, lb := ins[0], ins[1]
	for _, l := range []string{la, lb, out} {
		for i, c := range l {
			if strings.ContainsRune(l[i+1:], c) || c < 'A' || c > 'z' {
				return nil, fmt.Errorf("equation %q: repeated or non-letter label %q", eq, c)
			}
		}
	}
	var batch, freeA, freeB, sum string
	for _, c := range la {
		inB, inOut := strings.ContainsRune(lb, c), strings.ContainsRune(out, c)
		switch {
		case inB && inOut:
			batch += string(c)
		case inB:
			sum += string(c)
		case inOut:
			freeA += string(c)
		default:
			return nil, fmt.Errorf("equation %q: label %q of one operand only is summed away", eq, c)
		}
	}
	for _, c := range lb {
		if !strings.ContainsRune(la, c) {
			if !strings.ContainsRune(out, c) {
				return nil, fmt.Errorf("equation %q: label %q of one operand only is summed away", eq, c)
			}
			freeB += string(c)
		}
	}
	for _, c := range out {
		if !strings.ContainsRune(la, c) && !strings.ContainsRune(lb, c) {
			return nil, fmt.Errorf("equation %q: output label %q is in no operand", eq, c)
		}
	}
	return func(n *nativeNet, in []ntensor) (ntensor, error) {
		a, b := in[0], in[1]
		if len(a.shape) != len(la) || len(b.shape) != len(lb) {
			return ntensor{}, fmt.Errorf("equation %q for inputs of shapes %s and %s", eq, shapeString(a.shape), shapeString(b.shape))
		}
		size := map[rune]int{}
		for _, t := range []struct {
			l string
			s []int
		}{{la, a.shape}, {lb, b.shape}} {
			for i, c := range t.l {
				if d, ok := size[c]; ok && d != t.s[i] {
					return ntensor{}, fmt.Errorf("equation %q: label %q is %d and %d", eq, c, d, t.s[i])
				}
				size[c] = t.s[i]
			}
		}
		prod := func(l string) int {
			p := 1
			for _, c := range l {
				p *= size[c]
			}
			return p
		}
		// arrange permutes t (labels l) to the label order want.
		arrange := func(t ntensor, l, want string) ntensor {
			st := rowStrides(t.shape)
			shape, strides := make([]int, len(want)), make([]int, len(want))
			for i, c := range want {
				j := strings.IndexRune(l, c)
				shape[i], strides[i] = t.shape[j], st[j]
			}
			return strided(t, shape, strides, 0)
		}
		nb, m, k, nn := prod(batch), prod(freeA), prod(sum), prod(freeB)
		ta := arrange(a, la, batch+freeA+sum)
		tb := arrange(b, lb, batch+sum+freeB)
		ta.shape, tb.shape = []int{nb, m, k}, []int{nb, k, nn}
		y, err := batchedMatMul(n, ta, tb)
		if err != nil {
			return ntensor{}, err
		}
		lr := batch + freeA + freeB
		y.shape = nil
		for _, c := range lr {
			y.shape = append(y.shape, size[c])
		}
		return arrange(y, lr, out), nil
	}, nil
}
