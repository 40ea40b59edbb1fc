"""One module per kind of offering; each registers with portal.orders.kinds
(at the composition root, portal.wiring) and brings its own tables, picker,
routes and templates."""
