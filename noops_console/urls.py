from django.urls import path

from noops_console import api, views

urlpatterns = [
    path("", views.home),
    path("login", views.login),
    path("logout", views.logout),
    path("tasks", views.task_list),
    path("tasks/<int:task_id>", views.task_page),
    path("tasks/<int:task_id>/<str:action>", views.task_control),
    path("api/v1/tasks", api.tasks),
    path("api/v1/tasks/<int:task_id>", api.task),
    path("api/v1/tasks/<int:task_id>/<str:action>", api.task_control),
    path("static/<path:path>", views.static),
]

handler404 = "noops_console.views.not_found"
