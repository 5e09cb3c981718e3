package sesfake

import (
	"encoding/json"
	"errors"
	"net/http"
)

// CreateTemplate stores a template directly (tests); it replaces one of the
// same name.
func (s *Server) CreateTemplate(name, subject, html, text string) error {
	t, err := newTemplate(name, subject, html, text)
	if err != nil {
		return err
	}
	s.tmu.Lock()
	s.templates[name] = t
	s.tmu.Unlock()
	return nil
}

func (s *Server) template(name string) *template {
	s.tmu.RLock()
	defer s.tmu.RUnlock()
	return s.templates[name]
}

type wireTemplate struct {
	TemplateName    string `json:",omitempty"`
	TemplateContent *wireContent
}

func (s *Server) createTemplate(w http.ResponseWriter, r *http.Request) {
	var in wireTemplate
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.TemplateName == "" || in.TemplateContent == nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", "TemplateName and TemplateContent are required")
		return
	}
	t, err := newTemplate(in.TemplateName, in.TemplateContent.Subject, in.TemplateContent.Html, in.TemplateContent.Text)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", err.Error())
		return
	}
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if _, ok := s.templates[in.TemplateName]; ok {
		writeError(w, http.StatusBadRequest, "AlreadyExistsException", "Template "+in.TemplateName+" already exists.")
		return
	}
	s.templates[in.TemplateName] = t
	writeJSON(w, struct{}{})
}

func (s *Server) updateTemplate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var in wireTemplate
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.TemplateContent == nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", "TemplateContent is required")
		return
	}
	t, err := newTemplate(name, in.TemplateContent.Subject, in.TemplateContent.Html, in.TemplateContent.Text)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", err.Error())
		return
	}
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if _, ok := s.templates[name]; !ok {
		notFound(w, name)
		return
	}
	s.templates[name] = t
	writeJSON(w, struct{}{})
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request) {
	t := s.template(r.PathValue("name"))
	if t == nil {
		notFound(w, r.PathValue("name"))
		return
	}
	writeJSON(w, wireTemplate{TemplateName: t.Name, TemplateContent: &wireContent{Subject: t.Subject, Html: t.HTML, Text: t.Text}})
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if _, ok := s.templates[name]; !ok {
		notFound(w, name)
		return
	}
	delete(s.templates, name)
	writeJSON(w, struct{}{})
}

func (s *Server) renderTemplate(w http.ResponseWriter, r *http.Request) {
	t := s.template(r.PathValue("name"))
	if t == nil {
		notFound(w, r.PathValue("name"))
		return
	}
	var in struct{ TemplateData string }
	err := json.NewDecoder(r.Body).Decode(&in)
	var data map[string]any
	if err == nil {
		if in.TemplateData == "" {
			err = errors.New("TemplateData is required")
		} else {
			data, err = parseData(in.TemplateData)
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", err.Error())
		return
	}
	writeJSON(w, map[string]string{"RenderedTemplate": string(renderMIME(nil, t.render(data), "sesfake-render"))})
}

func notFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, "NotFoundException", "Template "+name+" does not exist.")
}
