# Traveller pages (upload, thank-you). Owned by the catalog/pages work.
app_name = "rooms"
urlpatterns: list = []
