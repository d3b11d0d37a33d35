package api

import (
	_ "embed"
	"net/http"

	"sigs.k8s.io/yaml"
)

// OpenAPIYAML is the OpenAPI 3 description of the API.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

var openAPIJSON = func() []byte {
	b, err := yaml.YAMLToJSON(OpenAPIYAML)
	if err != nil {
		panic("api: embedded openapi.yaml is not valid YAML: " + err.Error())
	}
	return b
}()

func serveOpenAPIYAML(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(OpenAPIYAML)
	return nil
}

func serveOpenAPIJSON(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIJSON)
	return nil
}
