"""Staff accounts of suppliers: logins, second factors, sessions, roles."""
