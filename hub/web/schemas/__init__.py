"""Request and response bodies (pydantic): the API's contract and its OpenAPI source."""
