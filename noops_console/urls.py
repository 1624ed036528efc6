from django.urls import path, register_converter

from noops_console import api, history, views, views_deploy, views_live, views_processes, views_services


class TaskId:
    """A task id the stores can hold (1 to 2**63-1); a longer or larger number is no page (404)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= history.MAX_ID:
            raise ValueError(value)  # the resolver then tries the next pattern: none matches, 404
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(TaskId, "task_id")

urlpatterns = [
    path("", views.home),
    path("login", views.login),
    path("logout", views.logout),
    path("tasks", views.task_list),
    path("tasks/<task_id:task_id>", views.task_page),
    path("tasks/events", views_live.task_list_events),
    path("tasks/<task_id:task_id>/events", views_live.task_events),
    path("tasks/<task_id:task_id>/log", views_live.task_log),
    path("tasks/<task_id:task_id>/retry", views_live.task_retry),
    path("tasks/<task_id:task_id>/<str:action>", views.task_control),
    path("api/v1/tasks", api.tasks),
    path("api/v1/tasks/<task_id:task_id>", api.task),
    path("api/v1/tasks/<task_id:task_id>/events", views_live.task_events_api),
    path("api/v1/tasks/<task_id:task_id>/log", views_live.task_log_api),
    path("api/v1/tasks/<task_id:task_id>/retry", views_live.task_retry_api),
    path("api/v1/tasks/<task_id:task_id>/<str:action>", api.task_control),
    path("services", views_services.services_page),
    path("services/launch", views_services.services_launch),
    path("services/add", views_services.service_add),
    path("deploy", views_deploy.deploy_page),
    path("api/v1/deploys", views_deploy.deploys_api),
    path("api/v1/services", views_services.services_api),
    path("instances", views_processes.instances_page),
    path("hosts/<str:host>", views_processes.host_page),
    path("hosts/<str:host>/processes/<str:proc>/log", views_processes.log_page),
    path("hosts/<str:host>/processes/<str:proc>/log/stream", views_processes.log_stream),
    path("hosts/<str:host>/processes/<str:proc>/<str:action>", views_processes.process_action),
    path("api/v1/hosts/<str:host>/processes", views_processes.processes_api),
    path("api/v1/hosts/<str:host>/processes/<str:proc>/log", views_processes.log_api),
    path("api/v1/hosts/<str:host>/processes/<str:proc>/<str:action>", views_processes.process_action_api),
    path("static/<path:path>", views.static),
]

handler400 = "noops_console.views.bad_request"
handler404 = "noops_console.views.not_found"
