package features

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// onnxNode is the part of an ONNX NodeProto that node selection needs.
type onnxNode struct {
	name, op string
	outputs  []string
}

// onnxGraph lists a model's nodes in file (topological) order and its
// graph-level input and output names.
type onnxGraph struct {
	nodes   []onnxNode
	inputs  []string // graph inputs that are not initializers
	outputs []string
}

// ONNX protobuf field numbers (onnx/onnx.proto3).
const (
	modelGraphField      = 7  // ModelProto.graph
	graphNodeField       = 1  // GraphProto.node
	graphInitField       = 5  // GraphProto.initializer
	graphInputField      = 11 // GraphProto.input
	graphOutputField     = 12 // GraphProto.output
	nodeOutputField      = 2  // NodeProto.output
	nodeNameField        = 3  // NodeProto.name
	nodeOpField          = 4  // NodeProto.op_type
	valueInfoNameField   = 1  // ValueInfoProto.name
	tensorProtoNameField = 8  // TensorProto.name
)

// parseONNXGraph reads the node list of a serialized ONNX ModelProto. It
// reads only the fields it needs and skips everything else; malformed
// protobuf gives an error, never a panic.
func parseONNXGraph(data []byte) (*onnxGraph, error) {
	var graph []byte
	err := walkFields(data, func(num protowire.Number, v []byte) error {
		if num == modelGraphField {
			graph = v
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if graph == nil {
		return nil, fmt.Errorf("model has no graph (field %d)", modelGraphField)
	}
	g := &onnxGraph{}
	inits := map[string]bool{}
	var inputs []string
	err = walkFields(graph, func(num protowire.Number, v []byte) error {
		switch num {
		case graphNodeField:
			var n onnxNode
			err := walkFields(v, func(num protowire.Number, v []byte) error {
				switch num {
				case nodeOutputField:
					n.outputs = append(n.outputs, string(v))
				case nodeNameField:
					n.name = string(v)
				case nodeOpField:
					n.op = string(v)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("node %d: %w", len(g.nodes), err)
			}
			g.nodes = append(g.nodes, n)
		case graphInitField, graphInputField, graphOutputField:
			field := valueInfoNameField
			if num == graphInitField {
				field = tensorProtoNameField
			}
			var name string
			err := walkFields(v, func(n protowire.Number, v []byte) error {
				if n == protowire.Number(field) {
					name = string(v)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("graph field %d: %w", num, err)
			}
			switch num {
			case graphInitField:
				inits[name] = true
			case graphInputField:
				inputs = append(inputs, name)
			default:
				g.outputs = append(g.outputs, name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	for _, in := range inputs {
		if !inits[in] {
			g.inputs = append(g.inputs, in)
		}
	}
	return g, nil
}

// walkFields calls fn for every length-delimited field of the protobuf
// message b and skips fields of other wire types.
func walkFields(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad protobuf tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
			}
			if err := fn(num, v); err != nil {
				return err
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
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
