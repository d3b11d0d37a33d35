package reminder

import "github.com/evolution-todo/todo/internal/service"

// Config is reminder-service's configuration, read from the environment
// once.
type Config struct {
	service.Common        // APP_ADDR (default :8093), DAPR_*, APP_API_TOKEN, PUBSUB_NAME, LOG_*, ...
	TodoAppID      string `env:"TODO_APP_ID" envDefault:"todo-api"` // the app asked for due reminders
}

// LoadConfig reads the configuration from environ (config.Environ() outside
// tests); the error lists every bad variable.
func LoadConfig(environ map[string]string) (Config, error) {
	c := Config{Common: service.Common{AppAddr: ":8093"}}
	err := service.Load(&c, environ)
	return c, err
}

// Run runs reminder-service until ctx ends (service.Main's run function).
var Run = service.App("reminder-service", LoadConfig, New)
