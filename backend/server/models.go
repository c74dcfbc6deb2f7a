package server

import (
	"errors"
	"fmt"
	"strings"

	"cortexcast/backend/api"
)

// ErrInUse is wrapped by ModelStore.DeleteModel errors for a model that is being served.
var ErrInUse = errors.New("in use")

// ModelStore lists and deletes the stored models. It is optional: Config.Store, or else a
// Source that implements it, answers the models and delete_model messages; without one they
// are answered with unavailable. Both methods must be safe for concurrent use.
type ModelStore interface {
	// Models lists the stored models, sorted by name, marking the ones being served.
	Models() ([]api.ModelInfo, error)
	// DeleteModel deletes the stored model name. Its errors wrap ErrNotFound when there is no
	// such model and ErrInUse when the model is being served.
	DeleteModel(name string) error
}

// maxModelName bounds the model name of a delete_model request.
const maxModelName = 256

// listModels answers the models message.
func (c *conn) listModels(m api.Message) {
	list, err := c.s.store.Models()
	if err != nil {
		c.sendError(m.ID, api.CodeInternal, fmt.Sprintf("models: listing the model store: %v", err))
		return
	}
	c.sendJSON(api.Message{Type: api.TypeModels, Version: api.ProtocolVersion, ID: m.ID, Models: list})
}

// deleteModel answers delete_model: an unknown name gets unknown_model with the known names, a
// served model in_use, and a request while a training job runs (it may be writing the store)
// busy.
func (c *conn) deleteModel(m api.Message) {
	s := c.s
	s.mu.Lock()
	var running string
	if s.job != nil {
		running = s.job.id
	}
	s.mu.Unlock()
	if running != "" {
		c.sendError(m.ID, api.CodeBusy, fmt.Sprintf("a training job (%q) is writing the model store; delete models after it finishes", running))
		return
	}
	list, err := s.store.Models()
	if err != nil {
		c.sendError(m.ID, api.CodeInternal, fmt.Sprintf("delete_model: listing the model store: %v", err))
		return
	}
	var found *api.ModelInfo
	names := make([]string, 0, len(list))
	for i := range list {
		names = append(names, list[i].Name)
		if list[i].Name == m.Model {
			found = &list[i]
		}
	}
	unknown := func() {
		known := "the store is empty"
		if len(names) > 0 {
			known = "the store holds " + strings.Join(names, ", ")
		}
		c.sendError(m.ID, api.CodeUnknownModel, fmt.Sprintf("unknown model %q (%s)", m.Model, known))
	}
	if found == nil {
		unknown()
		return
	}
	if found.Served {
		c.sendError(m.ID, api.CodeInUse, fmt.Sprintf("model %q is being served for subject %d; train or load another model for that subject before deleting it", m.Model, found.Subject))
		return
	}
	switch err := s.store.DeleteModel(m.Model); {
	case err == nil:
		s.log.Info("model deleted over the websocket", "model", m.Model)
		c.sendJSON(api.Message{Type: api.TypeModelDeleted, Version: api.ProtocolVersion, ID: m.ID, Model: m.Model})
	case errors.Is(err, ErrNotFound):
		unknown()
	case errors.Is(err, ErrInUse):
		c.sendError(m.ID, api.CodeInUse, fmt.Sprintf("model %q is being served: %v", m.Model, err))
	default:
		c.sendError(m.ID, api.CodeInternal, fmt.Sprintf("delete_model %q: %v", m.Model, err))
	}
}
