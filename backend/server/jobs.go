package server

import (
	"context"
	"errors"
	"fmt"

	"cortexcast/backend/api"
)

// maxJobSubjects bounds the subject list of one training job.
const maxJobSubjects = 64

// job is the running training job; the server runs one at a time.
type job struct {
	id     string
	cancel context.CancelFunc
}

// startJob starts a training job for the connection, answering busy when one runs already.
// The job runs on the server's context, not the connection's: a viewer that leaves does not
// stop training (its events are dropped).
func (s *Server) startJob(c *conn, m api.Message) {
	if s.cfg.Train == nil {
		c.sendError(m.ID, api.CodeUnavailable, "this server does not run training jobs")
		return
	}
	if len(m.Subjects) == 0 || len(m.Subjects) > maxJobSubjects {
		c.sendError(m.ID, api.CodeBadMessage, fmt.Sprintf("train_start needs 1 to %d subjects, got %d", maxJobSubjects, len(m.Subjects)))
		return
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		c.sendError(m.ID, api.CodeUnavailable, "the server is shutting down")
		return
	}
	if s.job != nil {
		running := s.job.id
		s.mu.Unlock()
		c.sendError(m.ID, api.CodeBusy, fmt.Sprintf("a training job (%q) is running; one runs at a time", running))
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.job = &job{id: m.ID, cancel: cancel}
	s.jobsWG.Add(1)
	s.mu.Unlock()
	subjects := append([]int(nil), m.Subjects...)
	c.sendJSON(api.Message{Type: api.TypeProgress, Version: api.ProtocolVersion, ID: m.ID, Stage: "training started", Total: len(subjects)})
	go func() {
		defer s.jobsWG.Done()
		defer cancel()
		err := s.cfg.Train(ctx, subjects, func(stage string, done, total int) {
			c.sendJSON(api.Message{Type: api.TypeProgress, Version: api.ProtocolVersion, ID: m.ID, Stage: stage, Done: done, Total: total})
		})
		s.mu.Lock()
		s.job = nil
		s.mu.Unlock()
		fin := api.Message{Type: api.TypeTrainFinish, Version: api.ProtocolVersion, ID: m.ID, Subjects: subjects, Stage: "done"}
		switch {
		case err == nil:
			s.metrics.jobs.WithLabelValues("ok").Inc()
		case errors.Is(err, context.Canceled):
			s.metrics.jobs.WithLabelValues("cancelled").Inc()
			fin.Stage, fin.Code, fin.Error = "cancelled", api.CodeCancelled, "the training job was cancelled; the models served before it stay"
		default:
			s.metrics.jobs.WithLabelValues("failed").Inc()
			fin.Stage, fin.Code, fin.Error = "failed", api.CodeInternal, fmt.Sprintf("training failed: %v", err)
		}
		c.sendJSON(fin)
	}()
}

// cancelJob cancels the running job; its train_finish goes to the viewer that started it.
func (s *Server) cancelJob(c *conn, m api.Message) {
	s.mu.Lock()
	j := s.job
	s.mu.Unlock()
	if j == nil {
		c.sendError(m.ID, api.CodeNotFound, "no training job is running")
		return
	}
	j.cancel()
	c.sendJSON(api.Message{Type: api.TypeProgress, Version: api.ProtocolVersion, ID: m.ID, Stage: "cancelling " + j.id})
}
