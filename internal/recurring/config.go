package recurring

import "github.com/evolution-todo/todo/internal/service"

// Config is recurring-service's configuration, read from the environment
// once.
type Config struct {
	service.Common        // APP_ADDR (default :8092), DAPR_*, APP_API_TOKEN, PUBSUB_NAME, LOG_*, ...
	TodoAppID      string `env:"TODO_APP_ID" envDefault:"todo-api"` // the app that creates the next occurrence
}

// LoadConfig reads the configuration from environ (config.Environ() outside
// tests); the error lists every bad variable.
func LoadConfig(environ map[string]string) (Config, error) {
	c := Config{Common: service.Common{AppAddr: ":8092"}}
	err := service.Load(&c, environ)
	return c, err
}

// Run runs recurring-service until ctx ends (service.Main's run function).
var Run = service.App("recurring-service", LoadConfig, New)
