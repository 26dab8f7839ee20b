"""The API documentation pages (Swagger UI, ReDoc) served from vendored assets, and the OpenAPI overview."""
