package features

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// onnxNode is one NodeProto: what node selection and the native engine
// (nativeNet) need.
type onnxNode struct {
	name, op        string
	inputs, outputs []string
	attrs           map[string]onnxAttr
}

// onnxAttr is one AttributeProto's value; which field is set follows the
// attribute (ints for kernel_shape, f for alpha, t for a Constant's value).
type onnxAttr struct {
	i      int64
	f      float32
	s      string
	ints   []int64
	floats []float32
	t      *onnxTensor
}

// onnxTensor is a TensorProto, its data still in the file's encoding.
type onnxTensor struct {
	dims     []int64
	dtype    int64 // TensorProto.DataType: 1 float32, 7 int64
	raw      []byte
	floats   []float32
	int64s   []int64
	external bool // data_location EXTERNAL: the values are in another file
}

// onnxGraph lists a model's nodes in file (topological) order, its
// graph-level input and output names, its initializers, and the declared
// shapes of its inputs (-1 for a symbolic or missing dimension).
type onnxGraph struct {
	nodes       []onnxNode
	inputs      []string // graph inputs that are not initializers
	outputs     []string
	inits       map[string]*onnxTensor
	inputShapes map[string][]int64
}

// ONNX protobuf field numbers (onnx/onnx.proto3).
const (
	modelGraphField      = 7  // ModelProto.graph
	graphNodeField       = 1  // GraphProto.node
	graphInitField       = 5  // GraphProto.initializer
	graphInputField      = 11 // GraphProto.input
	graphOutputField     = 12 // GraphProto.output
	nodeInputField       = 1  // NodeProto.input
	nodeOutputField      = 2  // NodeProto.output
	nodeNameField        = 3  // NodeProto.name
	nodeOpField          = 4  // NodeProto.op_type
	nodeAttrField        = 5  // NodeProto.attribute
	valueInfoNameField   = 1  // ValueInfoProto.name
	valueInfoTypeField   = 2  // ValueInfoProto.type
	typeTensorField      = 1  // TypeProto.tensor_type
	tensorTypeShapeField = 2  // TypeProto.Tensor.shape
	shapeDimField        = 1  // TensorShapeProto.dim
	dimValueField        = 1  // TensorShapeProto.Dimension.dim_value
	attrNameField        = 1  // AttributeProto.name
	attrFField           = 2  // AttributeProto.f
	attrIField           = 3  // AttributeProto.i
	attrSField           = 4  // AttributeProto.s
	attrTField           = 5  // AttributeProto.t
	attrFloatsField      = 7  // AttributeProto.floats
	attrIntsField        = 8  // AttributeProto.ints
	tensorDimsField      = 1  // TensorProto.dims
	tensorTypeField      = 2  // TensorProto.data_type
	tensorFloatField     = 4  // TensorProto.float_data
	tensorInt64Field     = 7  // TensorProto.int64_data
	tensorProtoNameField = 8  // TensorProto.name
	tensorRawField       = 9  // TensorProto.raw_data
	tensorLocationField  = 14 // TensorProto.data_location
)

// maxONNXValues bounds the element count a tensor may declare, so that a
// hostile file cannot make the native engine allocate without limit.
const maxONNXValues = 1 << 31

// parseONNXGraph reads the graph of a serialized ONNX ModelProto: nodes with
// their attributes, initializers (their data referenced, not copied), and
// input and output names and shapes. It skips every other field; malformed
// protobuf gives an error, never a panic.
func parseONNXGraph(data []byte) (*onnxGraph, error) {
	var graph []byte
	err := walkFields(data, func(f protoField) error {
		if f.num == modelGraphField && f.typ == protowire.BytesType {
			graph = f.b
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if graph == nil {
		return nil, fmt.Errorf("model has no graph (field %d)", modelGraphField)
	}
	g := &onnxGraph{inits: map[string]*onnxTensor{}, inputShapes: map[string][]int64{}}
	var inputs []string
	err = walkFields(graph, func(f protoField) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case graphNodeField:
			n, err := parseNode(f.b)
			if err != nil {
				return fmt.Errorf("node %d: %w", len(g.nodes), err)
			}
			g.nodes = append(g.nodes, n)
		case graphInitField:
			name, t, err := parseTensor(f.b)
			if err != nil {
				return fmt.Errorf("initializer %d (%q): %w", len(g.inits), name, err)
			}
			g.inits[name] = t
		case graphInputField, graphOutputField:
			name, shape, err := parseValueInfo(f.b)
			if err != nil {
				return fmt.Errorf("graph field %d: %w", f.num, err)
			}
			if f.num == graphInputField {
				inputs = append(inputs, name)
				g.inputShapes[name] = shape
			} else {
				g.outputs = append(g.outputs, name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	for _, in := range inputs {
		if g.inits[in] == nil {
			g.inputs = append(g.inputs, in)
		}
	}
	return g, nil
}

func parseNode(b []byte) (onnxNode, error) {
	n := onnxNode{attrs: map[string]onnxAttr{}}
	err := walkFields(b, func(f protoField) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case nodeInputField:
			n.inputs = append(n.inputs, string(f.b))
		case nodeOutputField:
			n.outputs = append(n.outputs, string(f.b))
		case nodeNameField:
			n.name = string(f.b)
		case nodeOpField:
			n.op = string(f.b)
		case nodeAttrField:
			name, a, err := parseAttr(f.b)
			if err != nil {
				return fmt.Errorf("attribute %q: %w", name, err)
			}
			n.attrs[name] = a
		}
		return nil
	})
	return n, err
}

func parseAttr(b []byte) (string, onnxAttr, error) {
	var name string
	var a onnxAttr
	err := walkFields(b, func(f protoField) error {
		var err error
		switch f.num {
		case attrNameField:
			name = string(f.b)
		case attrFField:
			a.f = math.Float32frombits(uint32(f.x))
		case attrIField:
			a.i = int64(f.x)
		case attrSField:
			a.s = string(f.b)
		case attrTField:
			if f.typ == protowire.BytesType {
				_, a.t, err = parseTensor(f.b)
			}
		case attrFloatsField:
			a.floats, err = appendFloats(a.floats, f)
		case attrIntsField:
			a.ints, err = appendInts(a.ints, f)
		}
		return err
	})
	return name, a, err
}

func parseTensor(b []byte) (string, *onnxTensor, error) {
	var name string
	t := &onnxTensor{}
	err := walkFields(b, func(f protoField) error {
		var err error
		switch f.num {
		case tensorDimsField:
			t.dims, err = appendInts(t.dims, f)
		case tensorTypeField:
			t.dtype = int64(f.x)
		case tensorFloatField:
			t.floats, err = appendFloats(t.floats, f)
		case tensorInt64Field:
			t.int64s, err = appendInts(t.int64s, f)
		case tensorProtoNameField:
			name = string(f.b)
		case tensorRawField:
			t.raw = f.b
		case tensorLocationField:
			t.external = f.x == 1
		}
		return err
	})
	if err != nil {
		return name, nil, err
	}
	n := int64(1)
	for _, d := range t.dims {
		if d < 0 || d > maxONNXValues || n*d > maxONNXValues {
			return name, nil, fmt.Errorf("dims %v: negative or over %d values", t.dims, int64(maxONNXValues))
		}
		n *= d
	}
	return name, t, nil
}

// parseValueInfo returns a ValueInfoProto's name and tensor shape.
func parseValueInfo(b []byte) (string, []int64, error) {
	var name string
	var shape []int64
	err := walkFields(b, func(f protoField) error {
		switch {
		case f.num == valueInfoNameField:
			name = string(f.b)
		case f.num == valueInfoTypeField && f.typ == protowire.BytesType:
			return walkFields(f.b, func(f protoField) error {
				if f.num != typeTensorField || f.typ != protowire.BytesType {
					return nil
				}
				return walkFields(f.b, func(f protoField) error {
					if f.num != tensorTypeShapeField || f.typ != protowire.BytesType {
						return nil
					}
					return walkFields(f.b, func(f protoField) error {
						if f.num != shapeDimField || f.typ != protowire.BytesType {
							return nil
						}
						d := int64(-1)
						err := walkFields(f.b, func(f protoField) error {
							if f.num == dimValueField && f.typ == protowire.VarintType {
								d = int64(f.x)
							}
							return nil
						})
						shape = append(shape, d)
						return err
					})
				})
			})
		}
		return nil
	})
	return name, shape, err
}

// protoField is one field of a protobuf message: b for length-delimited
// ones, x for varint and fixed-width ones.
type protoField struct {
	num protowire.Number
	typ protowire.Type
	b   []byte
	x   uint64
}

// walkFields calls fn for every field of the protobuf message b (groups are
// skipped).
func walkFields(b []byte, fn func(protoField) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad protobuf tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		f := protoField{num: num, typ: typ}
		switch typ {
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			f.x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.x = uint64(v)
		case protowire.Fixed64Type:
			f.x, n = protowire.ConsumeFixed64(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n >= 0 {
				b = b[n:]
				continue
			}
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// appendInts appends a repeated int64 field's values, packed or not.
func appendInts(dst []int64, f protoField) ([]int64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(dst, int64(f.x)), nil
	case protowire.BytesType:
		for b := f.b; len(b) > 0; {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return dst, fmt.Errorf("packed ints: %w", protowire.ParseError(n))
			}
			dst = append(dst, int64(v))
			b = b[n:]
		}
	}
	return dst, nil
}

// appendFloats appends a repeated float field's values, packed or not.
func appendFloats(dst []float32, f protoField) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.x))), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return dst, fmt.Errorf("packed floats: %d bytes, not a multiple of 4", len(f.b))
		}
		for i := 0; i < len(f.b); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(f.b[i:])))
		}
	}
	return dst, nil
}

// resolve returns the tensor name that node selects, trying in turn:
//
//   - "" : the model's first output;
//   - the name of any node output (a tensor name, such as
//     "/features/features.2/MaxPool_output_0");
//   - the name of a node (its first output), such as "/features/features.2/MaxPool";
//   - a PyTorch module path as torch.onnx.export scopes node names, such as
//     "features.2" or "ln_post": the last node (in graph order) whose name
//     has "/features.2/" in it, i.e. the module's output.
func (g *onnxGraph) resolve(node string) (string, error) {
	if node == "" {
		if len(g.outputs) == 0 {
			return "", fmt.Errorf("model has no outputs")
		}
		return g.outputs[0], nil
	}
	for _, n := range g.nodes {
		for _, o := range n.outputs {
			if o == node {
				return o, nil
			}
		}
	}
	for _, n := range g.nodes {
		if n.name == node && len(n.outputs) > 0 {
			return n.outputs[0], nil
		}
	}
	scope := "/" + strings.Trim(node, "/") + "/"
	found := ""
	for _, n := range g.nodes {
		if strings.Contains(n.name, scope) && len(n.outputs) > 0 && n.op != "Constant" {
			found = n.outputs[0]
		}
	}
	if found != "" {
		return found, nil
	}
	return "", fmt.Errorf("no node, tensor or module %q in the model (first nodes: %s)", node, g.sample(8))
}

// sample lists up to n node names for error messages.
func (g *onnxGraph) sample(n int) string {
	var names []string
	for _, nd := range g.nodes {
		if nd.op == "Constant" {
			continue
		}
		names = append(names, nd.name)
		if len(names) == n {
			names = append(names, "…")
			break
		}
	}
	return strings.Join(names, ", ")
}
