# Investigator pages (search form, results, exports). Owned by the investigator UI work.
app_name = "investigations"
urlpatterns: list = []
