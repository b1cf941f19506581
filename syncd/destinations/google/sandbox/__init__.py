"""Emulators of Google's two audience APIs on 127.0.0.1: the Data Manager API over HTTP
(`data_manager`) and the Google Ads API over gRPC with TLS (`ads`). Only `syncd demo`,
`syncd sandbox`, the tests and the benchmarks import them; a production pass never does."""
