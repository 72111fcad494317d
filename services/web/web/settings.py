from registry_platform.settings import ServiceSettings


class WebSettings(ServiceSettings):
    # The web service is a backend-for-frontend: it reads other services over HTTP only.
    reporting_url: str = "http://127.0.0.1:8107"
